"""Scale-in protection while busy (optional, GATE_PROTECT_BUSY): the group then picks idle instances first and the
hook rarely has to hold. Protection cannot rescue an instance already chosen (SetInstanceProtection fails unless the
instance is InService) and does not stop TerminateInstanceInAutoScalingGroup, health replacement or Spot: the hook
stays the guarantee, protection only makes it cheaper.

Ownership: the gate removes only protection it set itself, recorded in the instance tag `gate:protected=true`
(written *before* protecting, cleared *after* unprotecting, so a crash in between never leaves protection the gate
would not remove). Protection set by an operator or by ECS managed termination protection has no such tag and is
never touched.

Cost: per tick, one DescribeAutoScalingGroups per 50 groups and one DescribeInstances per 200 instances; the agent
list is the tick's own (no extra call to the agent system). Changes are batched: CreateTags per 1000 instances,
SetInstanceProtection per 50 instances of one group; a container syncs at most once per `min_interval` seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gate.adapters.logs import DecisionLog
from gate.domain.clock import Clock, SystemClock
from gate.domain.errors import AwsError
from gate.domain.model import Waiting
from gate.service.workers import chunks

PROTECTED_TAG = "gate:protected"
SET_PROTECTION_MAX = 50  # SetInstanceProtection: at most 50 instance ids per call
CREATE_TAGS_MAX = 1000  # CreateTags: at most 1000 resources per call
DESCRIBE_MAX = 200
MIN_INTERVAL = 30.0


@dataclass(frozen=True, slots=True)
class Member:
    """An InService instance of a configured group, as Auto Scaling and its tags describe it."""

    group: str
    instance_id: str
    protected: bool
    ours: bool  # tag gate:protected=true: the gate set the protection
    private_dns: str | None = None


@dataclass
class Plan:
    protect: dict[str, list[str]] = field(default_factory=dict)  # group -> instance ids
    unprotect: dict[str, list[str]] = field(default_factory=dict)
    clear_tags: list[str] = field(default_factory=list)  # tagged ours but no longer protected (by someone else)

    @property
    def empty(self) -> bool:
        return not (self.protect or self.unprotect or self.clear_tags)


def plan(members: Sequence[Member], busy: Callable[[Member], bool]) -> Plan:
    """Pure: busy and unprotected -> protect; idle, protected and ours -> unprotect; the rest is left alone."""
    out = Plan()
    for m in members:
        is_busy = busy(m)
        if is_busy and not m.protected:
            out.protect.setdefault(m.group, []).append(m.instance_id)
        elif not is_busy and m.protected and m.ours:
            out.unprotect.setdefault(m.group, []).append(m.instance_id)
        elif not m.protected and m.ours:
            out.clear_tags.append(m.instance_id)
    return out


@dataclass
class Report:
    protected: list[str] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None


class ProtectionEdge(Protocol):
    """What protection asks of Auto Scaling and EC2. Errors: AwsError."""

    def group_instances(self, groups: Sequence[str]) -> list[tuple[str, dict[str, Any]]]: ...

    def tags_and_dns(self, instance_ids: Sequence[str]) -> dict[str, tuple[dict[str, str], str | None]]: ...

    def tag_many(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None: ...

    def set_protection(self, group: str, instance_ids: Sequence[str], protected: bool) -> None: ...


class Protector:
    def __init__(
        self,
        aws: ProtectionEdge,
        groups: Sequence[str],
        hook: str,
        *,
        clock: Clock | None = None,
        log: DecisionLog | None = None,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.aws = aws
        self.groups = list(groups)
        self.hook = hook
        self.clock = clock or SystemClock()
        self.log = log or DecisionLog()
        self.min_interval = min_interval
        self.last_sync: float | None = None

    def members(self) -> list[Member]:
        found = [
            (group, inst["InstanceId"], bool(inst.get("ProtectedFromScaleIn")))
            for group, inst in self.aws.group_instances(self.groups)
            if inst["LifecycleState"] == "InService"
        ]
        details: dict[str, tuple[bool, str | None]] = {}
        for chunk in chunks(sorted({iid for _, iid, _ in found}), DESCRIBE_MAX):
            for iid, (tags, dns) in self.aws.tags_and_dns(chunk).items():
                details[iid] = (tags.get(PROTECTED_TAG) == "true", dns)
        return [Member(g, iid, p, *details.get(iid, (False, None))) for g, iid, p in found]

    def sync(self, agents_for: Callable[[Waiting], Sequence[Any]] | None) -> Report:
        """One pass. `agents_for` maps an instance to its agents (the tick's index); None = the agent system could
        not be asked: change nothing (never unprotect on missing evidence)."""
        now = self.clock.now()
        if agents_for is None:
            return Report(skipped="agent system unavailable")
        if self.last_sync is not None and now - self.last_sync < self.min_interval:
            return Report(skipped=f"synced {now - self.last_sync:.0f}s ago")
        self.last_sync = now
        report = Report()
        try:
            members = self.members()
        except AwsError as exc:
            report.errors.append(f"describe: {exc}")
            self.log.error("protection_failed", error=str(exc))
            return report

        def busy(m: Member) -> bool:
            w = Waiting(m.group, m.instance_id, self.hook, "InService", private_dns=m.private_dns)
            return any(a.busy for a in agents_for(w))

        self.apply(plan(members, busy), report)
        if report.protected or report.unprotected or report.cleared or report.errors:
            self.log.info(
                "protection",
                protected=report.protected,
                unprotected=report.unprotected,
                cleared=report.cleared,
                errors=report.errors,
            )
        return report

    # -- edges -------------------------------------------------------------------------------------------------
    def _tag(self, ids: Sequence[str], value: str, report: Report) -> list[str]:
        done: list[str] = []
        for chunk in chunks(ids, CREATE_TAGS_MAX):
            try:
                self.aws.tag_many(chunk, {PROTECTED_TAG: value})
                done += chunk
            except AwsError as exc:
                report.errors.append(f"CreateTags {PROTECTED_TAG}={value or '(clear)'}: {exc}")
        return done

    def _protect(self, by_group: Mapping[str, Sequence[str]], value: bool, report: Report) -> list[str]:
        done: list[str] = []
        for group, ids in by_group.items():
            for chunk in chunks(ids, SET_PROTECTION_MAX):
                try:
                    self.aws.set_protection(group, chunk, value)
                    done += chunk
                except AwsError as exc:
                    # e.g. an instance left InService since the describe: the next tick retries from fresh state.
                    report.errors.append(f"SetInstanceProtection {value} {group} {chunk}: {exc}")
        return done

    def apply(self, p: Plan, report: Report) -> None:
        if p.protect:
            # Tag first: a crash between the two calls leaves a tag without protection (cleared next tick),
            # never protection without the tag (which the gate would then never remove).
            tagged = set(self._tag([i for ids in p.protect.values() for i in ids], "true", report))
            todo: dict[str, list[str]] = defaultdict(list)
            for group, ids in p.protect.items():
                todo[group] += [i for i in ids if i in tagged]
            report.protected += self._protect(todo, True, report)
        if p.unprotect:
            unprotected = self._protect(p.unprotect, False, report)
            report.unprotected += unprotected
            self._tag(unprotected, "", report)
        if p.clear_tags:
            report.cleared += self._tag(p.clear_tags, "", report)
