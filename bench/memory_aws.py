"""Auto Scaling and EC2 in memory: the one in-process stand-in for the gate's AWS port in the benchmarks.

It implements what the service declares it needs (gate.service.triggers.GateEdge, with the retained clean-up's and
protection's calls) over a world the benchmark owns, and subclasses nothing: a benchmark never reaches into the real
client's boto3 internals, and a port that grows a call fails `mypy` here instead of at run time. The world says
which instances exist and wait, counts (and delays) every call, and keeps its own timers on heartbeat and complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

from bench.common import instance_details
from gate.domain.errors import ActionGone
from gate.domain.events import TERMINATING
from gate.domain.model import Waiting

WAIT = "Terminating:Wait"
Result = Literal["CONTINUE", "ABANDON"]


class Member(Protocol):
    """One instance of the world: its group, whether its lifecycle action waits, and its tags (mutated in place)."""

    id: str
    group: str
    waiting: bool
    tags: dict[str, str]


class World(Protocol):
    """What a benchmark's world provides. `aws(op, n)` is called once per API call the real client would make (n of
    them), before the call's effect: count it, sleep its latency, inject its fault."""

    def members(self) -> Iterable[Member]: ...

    def aws(self, op: str, n: int = 1) -> None: ...

    def heartbeat(self, member: Member) -> None:
        """The lifecycle action's timer restarts (RecordLifecycleActionHeartbeat succeeded)."""
        ...

    def complete(self, member: Member, result: Result) -> None:
        """The lifecycle action ends with `result` (the instance leaves the wait)."""
        ...


class MemoryAws:
    """The gate's AWS edge answered from a `World`. `before_action(member)`: the world's chance to expire a timer
    before an action is checked (a hook that timed out is gone)."""

    def __init__(
        self,
        world: World,
        hook: str,
        heartbeat_timeout: float,
        *,
        default_result: Result = "ABANDON",
        private_dns: Callable[[str], str | None] = lambda iid: f"ip-{iid[2:10]}.ec2.internal",
        before_action: Callable[[Member], None] | None = None,
    ) -> None:
        self.world = world
        self.hook = hook
        self.heartbeat_timeout = heartbeat_timeout
        self.default_result = default_result
        self.private_dns = private_dns
        self.before_action = before_action
        self.deadline: float | None = None
        self.listed_groups: frozenset[str] | None = None

    def _members(self) -> dict[str, Member]:
        return {m.id: m for m in self.world.members()}

    # -- the round ------------------------------------------------------------------------------------------------
    def set_deadline(self, deadline: float | None, now: Callable[[], float] | None = None) -> None:
        self.deadline = deadline  # the world's latencies are far below any deadline: nothing to bound

    def find_waiting(self, groups: Sequence[str], hook: str) -> list[Waiting]:
        self.world.aws("DescribeAutoScalingGroups", math.ceil(len(groups) / 50))
        wanted = set(groups)
        self.listed_groups = frozenset(wanted)
        return [Waiting(m.group, m.id, hook, WAIT) for m in self.world.members() if m.waiting and m.group in wanted]

    def lifecycle_hooks(self, group: str) -> list[dict[str, Any]]:
        self.world.aws("DescribeLifecycleHooks")
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
        self.world.aws("DescribeScalingActivities", sum(1 for ids in wanted.values() if ids))
        members = self._members()
        found = (members.get(iid) for ids in wanted.values() for iid in ids)
        return {m.id: f"activity-{m.id}" for m in found if m is not None and m.waiting}

    def instance_state(self, instance_id: str) -> tuple[str | None, str | None]:
        self.world.aws("DescribeAutoScalingInstances")
        m = self._members().get(instance_id)
        return (m.group, WAIT) if m is not None and m.waiting else (None, None)

    def describe_instances(self, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(set(instance_ids))
        self.world.aws("DescribeInstances", math.ceil(len(ids) / 200))
        members = self._members()
        return {iid: instance_details(self.private_dns(iid), members[iid].tags) for iid in ids if iid in members}

    # -- the executor ---------------------------------------------------------------------------------------------
    def _active(self, waiting: Waiting) -> Member:
        m = self._members().get(waiting.instance_id)
        if m is not None and self.before_action is not None:
            self.before_action(m)
        if m is None or not m.waiting:
            raise ActionGone(f"No active Lifecycle Action found with instance ID {waiting.instance_id}")
        return m

    def heartbeat(self, waiting: Waiting) -> None:
        self.world.aws("RecordLifecycleActionHeartbeat")
        self.world.heartbeat(self._active(waiting))

    def complete(self, waiting: Waiting, result: Result) -> None:
        self.world.aws("CompleteLifecycleAction")
        self.world.complete(self._active(waiting), result)

    def tag(self, instance_id: str, key: str, value: str) -> None:
        self.world.aws("CreateTags")
        m = self._members().get(instance_id)
        if m is not None:
            m.tags[key] = value

    def terminate(self, instance_id: str) -> None:
        self.world.aws("TerminateInstances")

    # -- the tick's clean-up and protection -------------------------------------------------------------------------
    def group_instances(self, groups: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        self.world.aws("DescribeAutoScalingGroups", math.ceil(len(groups) / 50))
        wanted = set(groups)
        self.listed_groups = frozenset(wanted)
        return [
            (m.group, {"InstanceId": m.id, "LifecycleState": WAIT})
            for m in self.world.members()
            if m.waiting and m.group in wanted
        ]

    def tags_and_dns(self, instance_ids: Sequence[str]) -> dict[str, tuple[dict[str, str], str | None]]:
        self.world.aws("DescribeInstances", math.ceil(len(instance_ids) / 200))
        members = self._members()
        return {iid: (dict(members[iid].tags), self.private_dns(iid)) for iid in instance_ids if iid in members}

    def tagged(self, keys: Sequence[str], max_pages: int = 100) -> dict[str, list[str]]:
        self.world.aws("DescribeInstances")
        wanted = set(keys)
        return {m.id: sorted(wanted & set(m.tags)) for m in self.world.members() if wanted & set(m.tags)}

    def tag_many(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        self.world.aws("CreateTags")
        members = self._members()
        for iid in instance_ids:
            if iid in members:
                members[iid].tags.update(tags)

    def set_protection(self, group: str, instance_ids: Sequence[str], protected: bool) -> None:
        self.world.aws("SetInstanceProtection")
