"""Auto Scaling and EC2 in memory: the one in-process stand-in for the gate's AWS port in the benchmarks.

It implements what the service declares it needs (gate.service.triggers.GateEdge, with the retained clean-up's and
protection's calls, and the termination policy's `launch_details`) over a world the benchmark owns, and subclasses
nothing: a benchmark never reaches into the real client's boto3 internals, and a port that grows a call fails `mypy`
here instead of at run time. The world says which instances exist and in which lifecycle state, counts (and delays,
or fails) every call, and keeps its own timers on heartbeat and complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

from bench.common import instance_details
from gate.domain.errors import ActionGone
from gate.domain.events import TERMINATING
from gate.domain.model import Waiting

WAIT = "Terminating:Wait"
GONE = "Terminated"
Result = Literal["CONTINUE", "ABANDON"]


class Member(Protocol):
    """One instance of the world: its group, its lifecycle state (Pending, InService, Terminating:Wait,
    Terminating:Retained; Terminated once gone), and its tags (mutated in place)."""

    @property
    def id(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def tags(self) -> dict[str, str]: ...


M = TypeVar("M", bound=Member)


class World(Protocol[M]):
    """What a benchmark's world provides. `aws(op, n)` is called once per API call the real client would make (n of
    them), before the call's effect: count it, sleep its latency, or raise AwsError (a throttled call)."""

    def members(self) -> Iterable[M]: ...

    def aws(self, op: str, n: int = 1) -> None: ...

    def heartbeat(self, member: M) -> None:
        """The lifecycle action's timer restarts (RecordLifecycleActionHeartbeat succeeded)."""
        ...

    def complete(self, member: M, result: Result) -> None:
        """The lifecycle action ends with `result`."""
        ...


class MemoryAws(Generic[M]):
    """The gate's AWS edge answered from a `World`. The keyword hooks are what only some worlds model: `lookup` (an
    instance by id, faster than scanning), `action_id` (the lifecycle action's identity), `token` (unused: the gate
    acts by instance id, never by an event's token), `protect` and `terminate` (scale-in protection,
    TerminateInstances), `launched` (launch time), `before_action` (expire a timer before an action is checked: a
    hook that timed out is gone)."""

    def __init__(
        self,
        world: World[M],
        hook: str,
        heartbeat_timeout: float,
        *,
        default_result: Result = "ABANDON",
        private_dns: Callable[[M], str | None] = lambda m: f"ip-{m.id[2:10]}.ec2.internal",
        lookup: Callable[[str], M | None] | None = None,
        action_id: Callable[[M], str | None] = lambda m: f"activity-{m.id}",
        token: Callable[[M], str | None] | None = None,
        protect: Callable[[M, bool], None] | None = None,
        terminate: Callable[[M], None] | None = None,
        launched: Callable[[M], float | None] | None = None,
        before_action: Callable[[M], None] | None = None,
    ) -> None:
        self.world = world
        self.hook = hook
        self.heartbeat_timeout = heartbeat_timeout
        self.default_result = default_result
        self.private_dns = private_dns
        self._lookup = lookup
        self.action_id = action_id
        self.token = token
        self.protect = protect
        self.on_terminate = terminate
        self.launched = launched
        self.before_action = before_action
        self.deadline: float | None = None
        self.listed_groups: frozenset[str] | None = None
        self.warm_pool_errors: dict[str, str] = {}  # the simulated fleet has no warm pools
        self.calls: dict[str, int] = {}  # per operation, as gate.adapters.aws.Aws counts them (throttled ones too)

    def _call(self, op: str, n: int = 1) -> None:
        if n > 0:
            self.calls[op] = self.calls.get(op, 0) + n
        self.world.aws(op, n)

    def member(self, instance_id: str) -> M | None:
        if self._lookup is not None:
            return self._lookup(instance_id)
        return next((m for m in self.world.members() if m.id == instance_id), None)

    def _in(self, groups: Sequence[str]) -> list[M]:
        wanted = set(groups)
        self.listed_groups = frozenset(wanted)
        return [m for m in self.world.members() if m.group in wanted and m.state != GONE]

    # -- the round ------------------------------------------------------------------------------------------------
    def set_deadline(self, deadline: float | None, now: Callable[[], float] | None = None) -> None:
        self.deadline = deadline  # the worlds' latencies are far below any deadline: nothing to bound

    def find_waiting(self, groups: Sequence[str], hook: str) -> list[Waiting]:
        """Auto Scaling only, as the real edge: EC2 details come from `describe_instances` when the gate asks."""
        self._call("DescribeAutoScalingGroups", math.ceil(len(groups) / 50))
        return [Waiting(m.group, m.id, hook, WAIT) for m in self._in(groups) if m.state == WAIT]

    def lifecycle_hooks(self, group: str) -> list[dict[str, Any]]:
        self._call("DescribeLifecycleHooks")
        timeout = int(self.heartbeat_timeout)
        return [
            {
                "LifecycleHookName": self.hook,
                "AutoScalingGroupName": group,
                "LifecycleTransition": TERMINATING,
                "HeartbeatTimeout": timeout,
                "GlobalTimeout": min(172_800, 100 * timeout),
                "DefaultResult": self.default_result,
            }
        ]

    def action_ids(self, wanted: dict[str, list[str]]) -> dict[str, str]:
        """The identity of each waiting instance's lifecycle action (gate.domain.holdstate)."""
        self._call("DescribeScalingActivities", sum(1 for ids in wanted.values() if ids))
        out: dict[str, str] = {}
        for group, ids in wanted.items():
            for iid in ids:
                m = self.member(iid)
                found = self.action_id(m) if m is not None and m.group == group and m.state == WAIT else None
                if found is not None:
                    out[iid] = found
        return out

    def instance_state(self, instance_id: str) -> tuple[str | None, str | None]:
        self._call("DescribeAutoScalingInstances")
        m = self.member(instance_id)
        return (m.group, m.state) if m is not None and m.state != GONE else (None, None)

    def describe_instances(self, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(set(instance_ids))
        self._call("DescribeInstances", math.ceil(len(ids) / 200))
        found = ((iid, self.member(iid)) for iid in ids)
        return {iid: instance_details(self.private_dns(m), m.tags) for iid, m in found if m is not None}

    def launch_details(self, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What the termination policy asks EC2 (hostname mapping, or candidates without an agent)."""
        ids = sorted(set(instance_ids))
        self._call("DescribeInstances", math.ceil(len(ids) / 200))
        out: dict[str, dict[str, Any]] = {}
        for iid in ids:
            m = self.member(iid)
            if m is not None:
                launched = self.launched(m) if self.launched is not None else None
                out[iid] = {"private_dns": self.private_dns(m), "private_ip": None, "launched_at": launched}
        return out

    # -- the executor ---------------------------------------------------------------------------------------------
    def _active(self, waiting: Waiting) -> M:
        m = self.member(waiting.instance_id)
        if m is not None and self.before_action is not None:
            self.before_action(m)
        if m is None or m.state != WAIT or m.group != waiting.group or waiting.hook != self.hook:
            raise ActionGone(f"No active Lifecycle Action found with instance ID {waiting.instance_id}")
        return m

    def heartbeat(self, waiting: Waiting) -> None:
        self._call("RecordLifecycleActionHeartbeat")
        self.world.heartbeat(self._active(waiting))

    def complete(self, waiting: Waiting, result: Result) -> None:
        self._call("CompleteLifecycleAction")
        self.world.complete(self._active(waiting), result)

    def tag(self, instance_id: str, key: str, value: str) -> None:
        self._call("CreateTags")
        m = self.member(instance_id)
        if m is not None:
            m.tags[key] = value

    def terminate(self, instance_id: str) -> None:
        """EC2 TerminateInstances: only ever for a retained instance (the gate's clean-up)."""
        self._call("TerminateInstances")
        m = self.member(instance_id)
        if m is not None and self.on_terminate is not None:
            self.on_terminate(m)

    # -- the tick's clean-up and protection -------------------------------------------------------------------------
    def group_instances(self, groups: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        self._call("DescribeAutoScalingGroups", math.ceil(len(groups) / 50))
        return [
            (
                m.group,
                {"InstanceId": m.id, "LifecycleState": m.state, "ProtectedFromScaleIn": getattr(m, "protected", False)},
            )
            for m in self._in(groups)
        ]

    def tags_and_dns(self, instance_ids: Sequence[str]) -> dict[str, tuple[dict[str, str], str | None]]:
        self._call("DescribeInstances", math.ceil(len(instance_ids) / 200))
        found = ((iid, self.member(iid)) for iid in instance_ids)
        return {iid: (dict(m.tags), self.private_dns(m)) for iid, m in found if m is not None}

    def tagged(self, keys: Sequence[str], max_pages: int = 100) -> dict[str, list[str]]:
        """Instances carrying any of these tag keys with a value -> those keys (as the real client reads them)."""
        self._call("DescribeInstances")
        found = ((m.id, [k for k in keys if m.tags.get(k)]) for m in self.world.members() if m.state != GONE)
        return {iid: have for iid, have in found if have}

    def tag_many(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        self._call("CreateTags")
        for iid in instance_ids:
            m = self.member(iid)
            if m is not None:
                m.tags.update(tags)

    def set_protection(self, group: str, instance_ids: Sequence[str], protected: bool) -> None:
        self._call("SetInstanceProtection")
        for iid in instance_ids:
            m = self.member(iid)
            if m is not None and self.protect is not None:
                self.protect(m, protected)
