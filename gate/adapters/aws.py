"""The Auto Scaling and EC2 edge: find waiting instances, heartbeat, complete, tag.

Clients use botocore's adaptive retry mode: Auto Scaling throttles all its APIs from one per-account bucket,
so Throttling / ResourceContention are retried with client-side rate limiting (NTH #1174 dropped them).
Endpoints come from the standard `AWS_ENDPOINT_URL[_<SERVICE>]` variables, or localstack-client when asked,
so the same code runs against AWS, the local emulator or LocalStack.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from gate.domain.errors import ActionGone, AwsError, DeadlineExceeded
from gate.domain.holdstate import FINAL_STATUSES, ActionId, instance_ids_in
from gate.domain.model import WAIT_STATES, Waiting
from gate.service.workers import chunks

# 5 attempts: botocore's jittered exponential back-off then totals ~7 s on average (at most ~15 s), which rides out
# a throttling burst yet leaves a 70 s invocation time to act; the next tick retries anything still failing.
# Control-plane calls answer in well under a second: 10 s per attempt is generous, and every attempt is further
# bounded by the invocation's deadline (`Aws.set_deadline`), so no call outlives the Lambda timeout.
RETRY_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "adaptive"},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=32,  # the heartbeat pass runs 16 calls at once (gate/service/heartbeats.py)
)
READ_TIMEOUT = 10.0
# EC2 details only feed judgment, which the next round retries anyway: fewer attempts keep a throttled EC2 from
# eating the invocation (the adaptive limiter is per client, so Auto Scaling's heartbeats are not slowed by it).
EC2_CONFIG = RETRY_CONFIG.merge(Config(retries={"max_attempts": 3, "mode": "adaptive"}))


class BotoDeadlineExceeded(BotoCoreError, DeadlineExceeded):
    """`DeadlineExceeded` raised inside botocore (before an attempt is sent): a BotoCoreError too, so callers that
    catch botocore's failures see it as one."""

    fmt = "invocation deadline reached before {operation}"


def make_session(region: str | None = None) -> Any:
    """boto3 session; with GATE_LOCALSTACK=1 a localstack-client session (LOCALSTACK_HOST honoured)."""
    if os.environ.get("GATE_LOCALSTACK", "").lower() in ("1", "true", "yes"):
        import localstack_client.session

        return localstack_client.session.Session(region_name=region or os.environ.get("AWS_REGION", "us-east-1"))
    return boto3.session.Session(region_name=region)


def _is_gone(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    return err.get("Code") == "ValidationError" and "No active Lifecycle Action" in err.get("Message", "")


__all__ = ["ActionGone", "Aws", "AwsError", "BotoDeadlineExceeded", "chunks", "make_session"]


class Aws:
    """Auto Scaling and EC2 through boto3: implements the service's AWS ports (gate.service.triggers.GateEdge and the
    Protocols it gathers); the benchmarks' stand-in is bench/memory_aws.py, not a subclass."""

    def __init__(self, session: Any = None, endpoint_url: str | None = None) -> None:
        self._deadline: float | None = None
        self._wall_now: Callable[[], float] = time.time
        self._count_lock = threading.Lock()
        # The groups the last DescribeAutoScalingGroups listed (None: not asked yet): a configured group missing from
        # it is reported as not found (deleted), not as a group without the hook.
        self.listed_groups: frozenset[str] | None = None
        # The groups with a warm pool (DescribeAutoScalingGroups says so), and those whose DescribeWarmPool failed in
        # the last `find_waiting` ({group: error}): one failing pool must not stop the other groups' heartbeats.
        self.warm_pool_groups: frozenset[str] = frozenset()
        self.warm_pool_errors: dict[str, str] = {}
        session = session or make_session()
        kwargs: dict[str, Any] = {"config": RETRY_CONFIG}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        self.autoscaling = session.client("autoscaling", **kwargs)
        self.ec2 = session.client("ec2", **{**kwargs, "config": EC2_CONFIG})
        self.calls: dict[str, int] = {}
        for client in (self.autoscaling, self.ec2):
            client.meta.events.register("before-call", self._count)
            client.meta.events.register("before-send", self._bound_attempt)

    def _count(self, model: Any, **_: Any) -> None:
        with self._count_lock:  # heartbeats run on a thread pool
            self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def set_deadline(self, deadline: float | None, now: Callable[[], float] | None = None) -> None:
        """Epoch seconds (on the gate's clock, `now`) after which no attempt starts; each attempt's read timeout is
        cut to what is left. None: no deadline (the CLI's views)."""
        self._deadline = deadline
        if now is not None:
            self._wall_now = now

    def time_left(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._wall_now()

    def _bound_attempt(self, request: Any, **kwargs: Any) -> None:
        """botocore `before-send` (every attempt, retries included): refuse to start past the deadline, and
        bound the read timeout by the time left (botocore honours `context["read_timeout"]`)."""
        left = self.time_left()
        if left is None:
            return
        if left <= 0.05:
            raise BotoDeadlineExceeded(operation=kwargs.get("event_name", "call").rsplit(".", 1)[-1])
        context = getattr(request, "context", None)
        if isinstance(context, dict):
            context["read_timeout"] = max(0.05, min(READ_TIMEOUT, left))

    def find_waiting(self, groups: Sequence[str], hook: str) -> list[Waiting]:
        """All instances of the groups in a wait state (`group_instances`, warm pools included) and nothing else (no
        EC2), so the heartbeat pass depends on Auto Scaling alone. Tags and private DNS come later from
        `describe_instances`, for the judgment pass."""
        return [
            Waiting(group=g, instance_id=inst["InstanceId"], hook=hook, lifecycle_state=inst["LifecycleState"])
            for g, inst in self.group_instances(groups)
            if inst.get("LifecycleState") in WAIT_STATES
        ]

    def _warm_pool(self, group: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        try:
            for page in self.autoscaling.get_paginator("describe_warm_pool").paginate(AutoScalingGroupName=group):
                found.extend(page.get("Instances", []))
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"DescribeWarmPool: {exc}") from None
        return found

    def group_instances(self, groups: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """(group name, the instance as Auto Scaling lists it) for every instance of the groups: one paginated
        DescribeAutoScalingGroups per 50 groups, and one paginated DescribeWarmPool per group that has a warm pool
        (instances in, entering or leaving the pool, `Warmed:*`, are not in the group's list). The round, the
        retained clean-up and protection all read the groups this way. A failing DescribeWarmPool is kept in
        `warm_pool_errors` ({group: error}) for the caller to report; the other groups are listed as usual."""
        found: list[tuple[str, dict[str, Any]]] = []
        listed: set[str] = set()
        warm: set[str] = set()
        paginator = self.autoscaling.get_paginator("describe_auto_scaling_groups")
        try:
            for chunk in chunks(list(groups), 50):
                for page in paginator.paginate(AutoScalingGroupNames=chunk):
                    for group in page["AutoScalingGroups"]:
                        listed.add(group["AutoScalingGroupName"])
                        if group.get("WarmPoolConfiguration"):
                            warm.add(group["AutoScalingGroupName"])
                        found.extend((group["AutoScalingGroupName"], inst) for inst in group.get("Instances", []))
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"DescribeAutoScalingGroups: {exc}") from None
        self.listed_groups = frozenset(listed)
        self.warm_pool_groups = frozenset(warm)
        self.warm_pool_errors = {}
        seen = {inst["InstanceId"] for _, inst in found}
        for name in sorted(warm):
            try:
                found.extend((name, inst) for inst in self._warm_pool(name) if inst["InstanceId"] not in seen)
            except AwsError as exc:
                self.warm_pool_errors[name] = str(exc)
        return found

    def lifecycle_hooks(self, group: str) -> list[dict[str, Any]]:
        """The group's lifecycle hooks as AWS describes them (DescribeLifecycleHooks), every transition."""
        try:
            resp = self.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"DescribeLifecycleHooks: {exc}") from None
        hooks: list[dict[str, Any]] = resp.get("LifecycleHooks", [])
        return hooks

    def action_ids(self, wanted: dict[str, list[str]]) -> dict[str, str]:
        """{instance id: ActivityId of its unfinished terminate activity} for {group: instance ids}: the identity
        of each lifecycle action (gate.domain.holdstate). One paginated DescribeScalingActivities per group."""
        try:
            return lookup_actions(self.autoscaling, wanted)
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"DescribeScalingActivities: {exc}") from None

    def instance_state(self, instance_id: str) -> tuple[str | None, str | None]:
        """(group, lifecycle state) as Auto Scaling reports it; (None, None) when no group holds the instance."""
        try:
            resp = self.autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"DescribeAutoScalingInstances: {exc}") from None
        for inst in resp.get("AutoScalingInstances", []):
            return inst["AutoScalingGroupName"], inst["LifecycleState"]
        return None, None

    def describe_instances(self, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Private DNS and the gate's tags, batched (200 ids per call)."""
        ids = sorted(set(instance_ids))
        out: dict[str, dict[str, Any]] = {}
        paginator = self.ec2.get_paginator("describe_instances")
        for chunk in chunks(ids, 200):
            try:
                pages = list(paginator.paginate(Filters=[{"Name": "instance-id", "Values": list(chunk)}]))
            except (ClientError, BotoCoreError) as exc:
                raise AwsError(f"DescribeInstances: {exc}") from None
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for inst in reservation.get("Instances", []):
                        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                        out[inst["InstanceId"]] = {
                            "private_dns": inst.get("PrivateDnsName") or None,
                            "private_ip": inst.get("PrivateIpAddress") or None,
                            "tags": {k: v for k, v in tags.items() if k.startswith("gate:")},
                        }
        return out

    def _action(self, op: str, waiting: Waiting, extra: dict[str, Any]) -> None:
        """By instance id under the hook, never by a lifecycle action token: the action is the one Auto Scaling
        records for this instance, not one an event's token names (gate.service.triggers.Gate.on_lifecycle)."""
        params: dict[str, Any] = {
            "AutoScalingGroupName": waiting.group,
            "LifecycleHookName": waiting.hook,
            "InstanceId": waiting.instance_id,
            **extra,
        }
        try:
            getattr(self.autoscaling, op)(**params)
        except ClientError as exc:
            if _is_gone(exc):
                raise ActionGone(exc.response["Error"]["Message"]) from None
            raise AwsError(f"{op}: {exc}") from None
        except BotoCoreError as exc:
            raise AwsError(f"{op}: {exc}") from None

    def heartbeat(self, waiting: Waiting) -> None:
        self._action("record_lifecycle_action_heartbeat", waiting, {})

    def complete(self, waiting: Waiting, result: Literal["CONTINUE", "ABANDON"]) -> None:
        self._action("complete_lifecycle_action", waiting, {"LifecycleActionResult": result})

    def tags_and_dns(self, instance_ids: Sequence[str]) -> dict[str, tuple[dict[str, str], str | None]]:
        """Every tag and the private DNS name of these instances (one DescribeInstances; a filter, not InstanceIds: an
        instance terminated meanwhile must not fail the call). Protection reads its tag this way."""
        try:
            resp = self.ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": list(instance_ids)}])
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"DescribeInstances: {exc}") from None
        out: dict[str, tuple[dict[str, str], str | None]] = {}
        for reservation in resp.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                out[inst["InstanceId"]] = (tags, inst.get("PrivateDnsName") or None)
        return out

    def launch_details(self, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Private DNS and IP (hostname mapping) and launch time (epoch seconds) of these instances: one
        DescribeInstances per 200 ids, by filter (an instance gone meanwhile is left out, not an error). The
        termination policy (gate.service.selection) reads them; its deadline bounds the call like any other."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in chunks(sorted(set(instance_ids)), 200):
            try:
                resp = self.ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": chunk}])
            except (ClientError, BotoCoreError) as exc:
                raise AwsError(f"DescribeInstances: {exc}") from None
            for reservation in resp.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    out[inst["InstanceId"]] = {
                        "private_dns": inst.get("PrivateDnsName") or None,
                        "private_ip": inst.get("PrivateIpAddress") or None,
                        "launched_at": _epoch(inst.get("LaunchTime")),
                    }
        return out

    def tagged(self, keys: Sequence[str], max_pages: int = 100) -> dict[str, list[str]]:
        """Instances carrying any of these tag keys with a value -> those keys (paginated; a repeated token stops)."""
        found: dict[str, list[str]] = {}
        token: str | None = None
        for _ in range(max_pages):
            try:
                page = self.ec2.describe_instances(
                    Filters=[{"Name": "tag-key", "Values": list(keys)}], **({"NextToken": token} if token else {})
                )
            except (ClientError, BotoCoreError) as exc:
                raise AwsError(f"DescribeInstances: {exc}") from None
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    have = [t["Key"] for t in inst.get("Tags", []) if t["Key"] in keys and t.get("Value")]
                    if have:
                        found[inst["InstanceId"]] = have
            new = page.get("NextToken")
            if not new or new == token:
                break
            token = new
        return found

    def tag_many(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        """CreateTags on several instances at once ("" clears a value: IAM allows the gate CreateTags only)."""
        try:
            self.ec2.create_tags(Resources=list(instance_ids), Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"CreateTags: {exc}") from None

    def set_protection(self, group: str, instance_ids: Sequence[str], protected: bool) -> None:
        try:
            self.autoscaling.set_instance_protection(
                AutoScalingGroupName=group, InstanceIds=list(instance_ids), ProtectedFromScaleIn=protected
            )
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"SetInstanceProtection: {exc}") from None

    def terminate(self, instance_id: str) -> None:
        """EC2 TerminateInstances: only for a retained instance, which no lifecycle action holds any more."""
        try:
            self.ec2.terminate_instances(InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"TerminateInstances: {exc}") from None

    def tag(self, instance_id: str, key: str, value: str) -> None:
        try:
            self.ec2.create_tags(Resources=[instance_id], Tags=[{"Key": key, "Value": value}])
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"CreateTags: {exc}") from None


# -- the identity of each lifecycle action: its terminate activity (gate.domain.holdstate) --------------------------


@dataclass
class ActivityLookup:
    """ActivityId of each instance's newest activity when it is unfinished, from one group's activities (newest
    first). A termination reads "Terminating EC2 instance: i-..."; a scale-in into a warm pool is matched the same
    way, by the instance id in the description: only one lifecycle transition of an instance is unfinished at once."""

    found: dict[str, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)  # instances whose newest activity has ended

    def add(self, activity: Mapping[str, Any]) -> None:
        for iid in instance_ids_in(str(activity.get("Description") or "")):
            if iid in self.found or iid in self.done:
                continue  # a newer activity for the instance was seen first
            if activity.get("StatusCode") in FINAL_STATUSES or not activity.get("ActivityId"):
                self.done.add(iid)
            else:
                self.found[iid] = ActionId(str(activity["ActivityId"]), _epoch(activity.get("StartTime")))


def _epoch(value: Any) -> float | None:
    """StartTime as botocore parses it (an aware datetime); anything else is unknown."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.timestamp()
    return None


def _pages(client: Any, group: str, max_pages: int) -> Iterator[Mapping[str, Any]]:
    token: str | None = None
    for _ in range(max_pages):
        resp = client.describe_scaling_activities(
            AutoScalingGroupName=group, MaxRecords=100, **({"NextToken": token} if token else {})
        )
        yield from resp.get("Activities", [])
        new = resp.get("NextToken")
        if not new or new == token:
            return
        token = new


def lookup_actions(autoscaling: Any, wanted: Mapping[str, Iterable[str]], max_pages: int = 20) -> dict[str, str]:
    """{instance id: ActivityId (an ActionId: with its StartTime)} for the wanted instances ({group: instance ids}),
    one paginated DescribeScalingActivities per group, stopping once every wanted instance is found (activities come
    newest first). An instance not found has no identity: the gate holds it without tags or disables. Raises botocore
    errors."""
    out: dict[str, str] = {}
    for group, ids in wanted.items():
        want = set(ids)
        if not want:
            continue
        lookup = ActivityLookup()
        for activity in _pages(autoscaling, group, max_pages):
            lookup.add(activity)
            if want <= set(lookup.found) | lookup.done:
                break
        out.update({iid: aid for iid, aid in lookup.found.items() if iid in want})
    return out
