"""Event parsing: real shapes parse, everything else becomes Skipped (never an exception)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.domain.events import LifecycleEvent, ScheduledEvent, Skipped, SpotInterruptionEvent, parse_event

LIFECYCLE: dict[str, Any] = {
    "version": "0",
    "id": "12345678-1234-1234-1234-123456789012",
    "detail-type": "EC2 Instance-terminate Lifecycle Action",
    "source": "aws.autoscaling",
    "account": "123456789012",
    "time": "2026-11-24T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:abc:autoScalingGroupName/agents"],
    "detail": {
        "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
        "AutoScalingGroupName": "agents",
        "LifecycleHookName": "gate",
        "EC2InstanceId": "i-1234567890abcdef0",
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        "NotificationMetadata": "extra",
        "Origin": "AutoScalingGroup",
        "Destination": "EC2",
    },
}


def test_lifecycle_event_parses_every_detail_field() -> None:
    ev = parse_event(LIFECYCLE)
    assert isinstance(ev, LifecycleEvent)
    d = ev.detail
    assert (d.group, d.hook, d.instance_id, d.transition) == (
        "agents",
        "gate",
        "i-1234567890abcdef0",
        "autoscaling:EC2_INSTANCE_TERMINATING",
    )
    assert d.lifecycle_action_token.startswith("8765") and d.notification_metadata == "extra"
    assert (d.origin, d.destination) == ("AutoScalingGroup", "EC2")
    assert ev.account == "123456789012" and ev.region == "us-east-1"


def test_optional_fields_may_be_absent_and_warm_pool_origin_is_seen() -> None:
    raw = copy.deepcopy(LIFECYCLE)
    del raw["detail"]["NotificationMetadata"], raw["detail"]["Destination"]
    raw["detail"]["Origin"] = "WarmPool"
    ev = parse_event(json.dumps(raw))
    assert isinstance(ev, LifecycleEvent) and ev.detail.origin == "WarmPool"


def test_scheduled_spot_and_test_notification() -> None:
    assert isinstance(
        parse_event({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}), ScheduledEvent
    )
    spot = parse_event(
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Spot Instance Interruption Warning",
            "detail": {"instance-id": "i-1234567890abcdef0", "instance-action": "terminate"},
        }
    )
    assert isinstance(spot, SpotInterruptionEvent) and spot.detail.instance_action == "terminate"
    test = parse_event({"Event": "autoscaling:TEST_NOTIFICATION", "AutoScalingGroupName": "agents"})
    assert isinstance(test, Skipped) and "test notification" in test.reason and test.group == "agents"


def test_malformed_events_are_skipped_with_reasons() -> None:
    bad = copy.deepcopy(LIFECYCLE)
    bad["detail"]["EC2InstanceId"] = "not-an-instance"
    s = parse_event(bad)
    assert isinstance(s, Skipped) and "EC2InstanceId" in s.reason and s.group == "agents"
    assert "not JSON" in parse_event("{oops").reason  # type: ignore[union-attr]
    assert "not an object" in parse_event([1, 2]).reason  # type: ignore[union-attr]
    assert "unsupported" in parse_event({"detail-type": "Something"}).reason  # type: ignore[union-attr]
    wrong_source = dict(LIFECYCLE, source="evil.source")
    assert isinstance(parse_event(wrong_source), Skipped)
    huge = copy.deepcopy(LIFECYCLE)
    huge["detail"]["NotificationMetadata"] = "x" * 300_000
    assert "larger than" in parse_event(huge).reason  # type: ignore[union-attr]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(junk=json_values)
def test_fuzz_arbitrary_json_never_raises(junk: Any) -> None:
    assert parse_event(junk) is not None


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(LIFECYCLE["detail"])), value=json_values)
def test_fuzz_lifecycle_detail_fields(key: str, value: Any) -> None:
    raw = copy.deepcopy(LIFECYCLE)
    raw["detail"][key] = value
    parsed = parse_event(raw)
    assert isinstance(parsed, (LifecycleEvent, Skipped))
    if isinstance(parsed, LifecycleEvent):
        assert parsed.detail.instance_id.startswith("i-")
