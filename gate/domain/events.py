"""What can invoke the handler, as validated models; anything else becomes a `Skipped` with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

LIFECYCLE_DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
SPOT_DETAIL_TYPE = "EC2 Spot Instance Interruption Warning"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own entry limit: anything larger is not from EventBridge

_INSTANCE_ID = r"^i-[0-9a-f]{8,17}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class LifecycleDetail(_Model):
    lifecycle_action_token: str = Field(alias="LifecycleActionToken", min_length=1, max_length=36)
    group: str = Field(alias="AutoScalingGroupName", min_length=1, max_length=255)
    hook: str = Field(alias="LifecycleHookName", min_length=1, max_length=255)
    instance_id: str = Field(alias="EC2InstanceId", pattern=_INSTANCE_ID)
    transition: str = Field(alias="LifecycleTransition")
    notification_metadata: str | None = Field(default=None, alias="NotificationMetadata", max_length=1023)
    origin: Literal["EC2", "AutoScalingGroup", "WarmPool"] | None = Field(default=None, alias="Origin")
    destination: Literal["EC2", "AutoScalingGroup", "WarmPool"] | None = Field(default=None, alias="Destination")


class _Envelope(_Model):
    id: str = ""
    source: str
    detail_type: str = Field(alias="detail-type")
    account: str = ""
    region: str = ""
    time: datetime | None = None
    resources: list[str] = Field(default_factory=list)


class LifecycleEvent(_Envelope):
    source: Literal["aws.autoscaling"]
    detail_type: Literal["EC2 Instance-terminate Lifecycle Action"] = Field(alias="detail-type")
    detail: LifecycleDetail


class ScheduledEvent(_Envelope):
    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


class SpotDetail(_Model):
    instance_id: str = Field(alias="instance-id", pattern=_INSTANCE_ID)
    instance_action: str = Field(alias="instance-action")


class SpotInterruptionEvent(_Envelope):
    source: Literal["aws.ec2"]
    detail_type: Literal["EC2 Spot Instance Interruption Warning"] = Field(alias="detail-type")
    detail: SpotDetail


class Skipped(_Model):
    """Not ours or not valid: logged with the reason, never acted on."""

    reason: str
    group: str | None = None
    instance_id: str | None = None
    hook: str | None = None


Parsed = LifecycleEvent | ScheduledEvent | SpotInterruptionEvent | Skipped


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= 255 else None


def parse_event(raw: Any) -> Parsed:
    """Classify an invocation payload. Never raises: a bad payload becomes Skipped with a short reason."""
    if isinstance(raw, (str, bytes)):
        if len(raw) > MAX_EVENT_BYTES:
            return Skipped(reason=f"event larger than {MAX_EVENT_BYTES} bytes")
        try:
            raw = json.loads(raw)
        except ValueError:
            return Skipped(reason="event is not JSON")
    if not isinstance(raw, dict):
        return Skipped(reason=f"event is a {type(raw).__name__}, not an object")
    try:
        size = len(json.dumps(raw, default=str))
    except (TypeError, ValueError, RecursionError):
        return Skipped(reason="event is not serialisable JSON")
    if size > MAX_EVENT_BYTES:
        return Skipped(reason=f"event larger than {MAX_EVENT_BYTES} bytes")
    if raw.get("Event") == "autoscaling:TEST_NOTIFICATION":
        return Skipped(reason="autoscaling test notification", group=_str_or_none(raw.get("AutoScalingGroupName")))
    detail_type = raw.get("detail-type")
    model: type[LifecycleEvent] | type[ScheduledEvent] | type[SpotInterruptionEvent]
    if detail_type == LIFECYCLE_DETAIL_TYPE:
        model = LifecycleEvent
    elif detail_type == SCHEDULED_DETAIL_TYPE:
        model = ScheduledEvent
    elif detail_type == SPOT_DETAIL_TYPE:
        model = SpotInterruptionEvent
    else:
        return Skipped(reason=f"unsupported event type {str(detail_type)[:80]!r}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        found = raw.get("detail")
        detail: dict[str, Any] = found if isinstance(found, dict) else {}
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Skipped(
            reason=f"malformed {detail_type}: {where}: {first['msg']}"[:300],
            group=_str_or_none(detail.get("AutoScalingGroupName")),
            instance_id=_str_or_none(detail.get("EC2InstanceId")),
            hook=_str_or_none(detail.get("LifecycleHookName")),
        )


@dataclass(frozen=True, slots=True)
class Scope:
    """What is the gate's: its region and account (None: not known, not checked), its groups and its hook. Events are
    triggers, never evidence: a lifecycle event outside the scope is skipped before any call that changes anything."""

    groups: tuple[str, ...]
    hook: str
    region: str | None = None
    account: str | None = None

    def elsewhere(self, region: str, account: str) -> str | None:
        """An event from another region or account is not ours, whatever it names."""
        if self.region and region and region != self.region:
            return f"event from region {region}, gate runs in {self.region}"
        if self.account and account and account != self.account:
            return f"event from account {account}, gate runs in {self.account}"
        return None

    def not_ours(self, event: LifecycleEvent) -> str | None:
        """Why a lifecycle event is not the gate's to act on (None: it is, if the instance really waits)."""
        d = event.detail
        elsewhere = self.elsewhere(event.region, event.account)
        if elsewhere:
            return elsewhere
        if d.group not in self.groups:
            return f"group {d.group} is not in the allow-list"
        if d.hook != self.hook:
            return f"hook {d.hook} is not the gate's hook {self.hook}"
        if d.transition != TERMINATING:
            return f"transition {d.transition} is not a termination"
        return None
