"""Idle-first selection: which of the instances Auto Scaling offers may go first (a custom termination policy).

Auto Scaling invokes the policy with the capacity it must remove per Availability Zone and purchase option
(`CapacityToTerminate`) and the instances it suggests (`Instances`, already balanced across zones); the answer
(`{"InstanceIDs": [...]}`) narrows the choice (EC2 Auto Scaling User Guide, "Create a custom termination policy with
Lambda"). Pure: the service (gate.service.selection) brings the agent list and the launch times.

The answer is only a preference. Whatever Auto Scaling terminates still waits on the gate's hook, which drains and
judges it as usual, so a wrong "idle" costs a hold, never a build. What is documented of the answers:

* more instances than needed: the group's next termination policies choose among them;
* fewer: they go, and the policy is invoked again for the rest;
* none (or an error, or no answer within 2 s): Auto Scaling waits a short time and invokes the policy again, for as
  long as the group is above desired capacity (an hour for an instance refresh, then the refresh fails).

So "cannot tell" and "nothing idle" must never be an empty answer (that would stall the scale-in): they answer every
instance offered, which hands the choice back to the group's next policies (`fallback`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gate.domain.decide import Observation

# The causes Auto Scaling documents for the payload; all are served the same way. Another (future) cause: fallback.
CAUSES = frozenset({"SCALE_IN", "INSTANCE_REFRESH", "MAX_INSTANCE_LIFETIME", "REBALANCE"})


@dataclass(frozen=True, slots=True)
class Candidate:
    instance_id: str
    zone: str
    market: str  # InstanceMarketOption: on-demand | spot
    instance_type: str = ""

    @property
    def bucket(self) -> tuple[str, str]:
        return (self.zone, self.market)


@dataclass(frozen=True, slots=True)
class Request:
    """The policy's input, as Auto Scaling sends it."""

    group: str
    cause: str
    candidates: tuple[Candidate, ...]
    capacity: Mapping[tuple[str, str], int]  # (zone, market) -> instances to remove there
    group_arn: str = ""
    has_more: bool = False  # more than 30,000 candidates: the list is a prefix

    @property
    def wanted(self) -> int:
        return sum(self.capacity.values())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_request(event: Any) -> Request | str:
    """The payload, or why it is not one (never raises)."""
    if not isinstance(event, Mapping):
        return "not a termination policy payload (not an object)"
    group = _text(event.get("AutoScalingGroupName"))
    raw = event.get("Instances")
    if not group or not isinstance(raw, list):
        return "not a termination policy payload (AutoScalingGroupName and Instances are required)"
    candidates: list[Candidate] = []
    for item in raw:
        if isinstance(item, Mapping) and _text(item.get("InstanceId")):
            candidates.append(
                Candidate(
                    _text(item["InstanceId"]),
                    _text(item.get("AvailabilityZone")),
                    _text(item.get("InstanceMarketOption")).lower() or "on-demand",
                    _text(item.get("InstanceType")),
                )
            )
    capacity: dict[tuple[str, str], int] = {}
    for item in event.get("CapacityToTerminate") or []:
        if not isinstance(item, Mapping):
            continue
        count = item.get("Capacity")
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            continue
        key = (_text(item.get("AvailabilityZone")), _text(item.get("InstanceMarketOption")).lower() or "on-demand")
        capacity[key] = capacity.get(key, 0) + count
    return Request(
        group=group,
        cause=_text(event.get("Cause")),
        candidates=tuple(candidates),
        capacity=capacity,
        group_arn=_text(event.get("AutoScalingGroupARN")),
        has_more=event.get("HasMoreInstances") is True,
    )


class Readiness(StrEnum):
    """What the agent list says of one candidate. Only the first three may be chosen first."""

    DRAINED = "drained"  # every agent disabled (or cannot be disabled) and idle: no job can land on it
    IDLE = "idle"  # every agent idle
    AGENTLESS = "agentless"  # no agent registered, launched longer than the unregistered grace ago
    BUSY = "busy"
    UNKNOWN = "unknown"  # a failing pool it may use, an ambiguous agent, a busy field missing, too young, no answer


READY = (Readiness.DRAINED, Readiness.IDLE, Readiness.AGENTLESS)  # in this order of preference


def readiness(obs: Observation, launched_at: float | None, now: float, grace: float) -> Readiness:
    """One candidate, from this invocation's agent list (`obs`, as the gate's rules see an instance) and, for an
    instance without agents, when it was launched (None: not known). The rules' caution where it decides the pick: a
    pool that failed and that the instance may use, or an ambiguous agent, means unknown; so does an empty answer
    that is not explained, and an instance younger than the grace (its agent may be registering now)."""
    if obs.agents is None or obs.ambiguous:
        return Readiness.UNKNOWN
    for pool in obs.failed_pools:
        name = obs.pool_names.get(pool, pool if isinstance(pool, str) else None)
        if obs.group_pools is None or name is None or name in obs.group_pools:
            return Readiness.UNKNOWN
    agents = obs.agents
    if agents:
        if any(a.busy for a in agents):
            return Readiness.BUSY
        # No `assignedRequest` field (Azure DevOps leaves it out of an idle agent's record) is taken as idle here,
        # unlike in the rules: a wrong pick costs a hold (the hook checks the job requests before any release), and a
        # service that drops the field for every agent makes this policy no worse than the group's own choice.
        return Readiness.DRAINED if all(a.drained for a in agents) else Readiness.IDLE
    if not obs.listed_any or launched_at is None or now - launched_at < grace:
        return Readiness.UNKNOWN
    return Readiness.AGENTLESS


@dataclass(frozen=True, slots=True)
class Selection:
    instance_ids: tuple[str, ...]
    reason: str
    fallback: bool  # the answer hands the choice back to the group's next policies

    def answer(self) -> dict[str, list[str]]:
        return {"InstanceIDs": list(self.instance_ids)}


def fallback(request: Request | None, reason: str) -> Selection:
    """Every instance offered: the group's next termination policies choose, and the hook gates what they choose."""
    ids = tuple(c.instance_id for c in request.candidates) if request is not None else ()
    return Selection(ids, reason, True)


def choose(request: Request, ready: Mapping[str, Readiness]) -> Selection:
    """Per (zone, purchase option) of CapacityToTerminate, up to that many of its ready candidates: drained first,
    then idle, then agentless past the grace (ties by instance id, so the answer is stable). Only the instances
    Auto Scaling offered are ever answered, and never more than a zone's capacity there (the zones stay balanced).
    Nothing ready anywhere: the fallback (every candidate), so the scale-in goes on as without this policy and the
    hook holds what the group picks."""
    if request.cause not in CAUSES:
        return fallback(request, f"cause {request.cause or '(none)'} is not served")
    if not request.candidates or not request.capacity:
        return fallback(request, "nothing to choose from")
    rank = {r: i for i, r in enumerate(READY)}
    chosen: list[str] = []
    for bucket in sorted(request.capacity):
        there = [c for c in request.candidates if c.bucket == bucket and ready.get(c.instance_id) in rank]
        there.sort(key=lambda c: (rank[ready[c.instance_id]], c.instance_id))
        chosen += [c.instance_id for c in there[: request.capacity[bucket]]]
    if not chosen:
        return fallback(request, f"no candidate is idle ({summary(ready)})")
    short = request.wanted - len(chosen)
    more = f"; {short} more asked for: Auto Scaling invokes the policy again for them" if short > 0 else ""
    return Selection(tuple(chosen), f"{len(chosen)} ready of {len(request.candidates)} ({summary(ready)}){more}", False)


def summary(ready: Mapping[str, Readiness]) -> str:
    counts: dict[str, int] = {}
    for r in ready.values():
        counts[r.value] = counts.get(r.value, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no candidate judged"
