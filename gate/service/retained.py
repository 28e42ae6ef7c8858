"""The tick's clean-up of instances that left the hold: retained ones and ones back in service.

* `Terminating:Retained` (a forced ABANDON on a group with `TerminateHookAbandon = retain`, or AWS's DefaultResult
  ABANDON after a gate outage; `Warmed:Terminating:Retained` for an instance leaving a warm pool): no lifecycle action
  is left, and AWS keeps the instance forever. The gate judges it
  by the same rules as a hold (disable, lag bound, positive evidence, job requests; no max hold: the point of
  retaining is not to kill the build), then deletes its agents and terminates it (EC2 TerminateInstances).
  Its hold state is bound to the identity `retained:<instance id>`.
* `InService` with hold tags (put back in service, or tagged by an earlier version): the tags are cleared, so
  they can never be mistaken for a later hold.

Cost per tick: one DescribeAutoScalingGroups per 50 groups (and DescribeWarmPool per warm pool), one
DescribeInstances filtered on the hold tag keys, and DescribeInstances for the retained instances only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gate.domain.actions import Complete, ConfirmDisables, Terminate
from gate.domain.decide import Decision, Observation, Policy
from gate.domain.holdstate import HOLD_TAGS
from gate.domain.model import RETAINED, RETAINED_STATES, Agent, Outcome, Waiting
from gate.service.evidence import decide_with_evidence
from gate.service.execute import LifecycleEdge, describe, execute
from gate.service.sources import AgentSource

if TYPE_CHECKING:
    from gate.adapters.ecs import Ecs


class RetainedEdge(LifecycleEdge, Protocol):
    """What the retained clean-up asks of Auto Scaling and EC2 besides the executor's calls. Errors: AwsError."""

    def group_instances(self, groups: Sequence[str]) -> list[tuple[str, dict[str, Any]]]: ...

    def describe_instances(self, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    def tagged(self, keys: Sequence[str], max_pages: int = 100) -> dict[str, list[str]]: ...

    def tag_many(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None: ...


class RoundAgents(Protocol):
    """The round's agent list (gate.service.judgment.RoundAgents): `index` None when the agent system could not be
    asked."""

    @property
    def index(self) -> Any: ...

    @property
    def error(self) -> str | None: ...

    def agents_for(self, waiting: Waiting) -> list[Agent]: ...


@dataclass(frozen=True, slots=True)
class Cleaned:
    """One retained instance judged this tick (for the decision record)."""

    waiting: Waiting
    outcome: Outcome
    reason: str
    agents: list[Agent]
    actions: list[str]
    failsafe: str | None = (
        None  # why an error keeps it (gate.domain.decide.Decision.failsafe), for the FailsafeHolds metric
    )


def retained_identity(instance_id: str) -> str:
    return f"retained:{instance_id}"


class RetainedCleanup:
    def __init__(
        self,
        aws: RetainedEdge,
        source: AgentSource,
        groups: Sequence[str],
        hook: str,
        policy_for: Callable[[str], Policy],
        *,
        dry_run: bool = False,
        ecs: Ecs | None = None,
    ) -> None:
        self.aws = aws
        self.source = source
        self.groups = list(groups)
        self.hook = hook
        self.policy_for = policy_for
        self.dry_run = dry_run
        self.ecs = ecs

    def members(self) -> tuple[list[tuple[str, str]], set[str]]:
        """([(group, instance id)] retained, {instance id} in service) of the configured groups."""
        members = self.aws.group_instances(self.groups)
        retained = [(group, inst["InstanceId"]) for group, inst in members if inst["LifecycleState"] in RETAINED_STATES]
        in_service = {inst["InstanceId"] for _, inst in members if inst["LifecycleState"] == "InService"}
        return retained, in_service

    def clear_in_service(self, in_service: set[str]) -> list[str]:
        """Clear hold tags on in-service instances of the groups; returns the instance ids cleared."""
        tagged = {iid: keys for iid, keys in self.aws.tagged(HOLD_TAGS).items() if iid in in_service}
        if self.dry_run:
            return sorted(tagged)
        for iid, keys in tagged.items():
            self.aws.tag_many([iid], dict.fromkeys(keys, ""))
        return sorted(tagged)

    def run(
        self,
        observe: Callable[[], RoundAgents],
        now: float,
        look: Callable[[Sequence[Waiting]], RoundAgents] | None = None,
    ) -> list[Cleaned]:
        """One pass. `observe` lists the agents (called only when a retained instance exists). `look`: a fresh list
        of the given instances' agents, for the final look before a termination (gate.service.evidence), as a hold's
        release has: an agent that registers again between the list and the termination would take a job as the
        instance ends (chaos gate_outage --unguarded). None skips it (views and tests that hold no release)."""
        retained, in_service = self.members()
        if in_service:
            self.clear_in_service(in_service)
        if not retained:
            return []
        observed = observe()
        details = self.aws.describe_instances([iid for _, iid in retained])
        out: list[Cleaned] = []
        for group, iid in retained:
            w = Waiting(group, iid, self.hook, RETAINED, **details.get(iid, {}))
            out.append(self._one(dataclasses.replace(w, action_id=retained_identity(iid)), observed, now, look))
        return out

    def _one(
        self,
        w: Waiting,
        observed: RoundAgents,
        now: float,
        look: Callable[[Sequence[Waiting]], RoundAgents] | None = None,
    ) -> Cleaned:
        agents = observed.agents_for(w) if observed.index is not None else []
        obs = _observation(observed, w)
        # No max hold: a retained instance costs money, not builds; it goes when its agents are idle.
        policy = dataclasses.replace(self.policy_for(w.group), max_hold_seconds=float("inf"), tiers=())
        final_look = None if look is None or self.dry_run else (lambda: _observation(look([w]), w))
        mapped = getattr(observed.index, "owns", None)  # gate.domain.mapping.AgentIndex.owns
        owns = None if mapped is None else (lambda agent: bool(mapped(w, agent)))
        decision = decide_with_evidence(
            w, obs, policy, now, self.source, proven=True, ecs=self.ecs, look=final_look, owns=owns
        )
        # No acknowledgement stamp: a retained instance costs money, not builds, so it simply waits the lag bound.
        kept = tuple(a for a in decision.actions if not isinstance(a, ConfirmDisables))
        decision = dataclasses.replace(decision, actions=kept)
        actions = describe_actions(decision)
        if self.dry_run:  # the one executor in plan mode: what a real tick would call, in order
            ending = tuple(Terminate() if isinstance(a, Complete) else a for a in decision.actions)
            plan = execute(dataclasses.replace(decision, actions=ending), w, self.aws, self.source, True, ecs=self.ecs)
            reason = f"retained instance: {plan.reason}"
            return Cleaned(w, Outcome.SKIPPED, reason, agents, plan.planned or actions)
        outcome, reason = self._carry_out(w, decision)
        failsafe = decision.failsafe if outcome is Outcome.HELD else "error" if outcome is Outcome.ERROR else None
        return Cleaned(w, outcome, reason, agents, actions, failsafe)

    def _carry_out(self, w: Waiting, decision: Decision) -> tuple[Outcome, str]:
        """The decision's actions through the one executor, with Complete meaning: terminate the retained instance."""
        ending = tuple(Terminate() if isinstance(a, Complete) else a for a in decision.actions)
        done = execute(dataclasses.replace(decision, actions=ending), w, self.aws, self.source, False, ecs=self.ecs)
        reason = f"retained instance: {done.reason}"
        if done.done and any(isinstance(a, Terminate) for a in ending):
            return Outcome.RELEASED, f"{reason}; terminated"
        if done.outcome is Outcome.HELD and "holding to retry" in done.reason:
            return Outcome.HELD, f"{reason}: retrying next tick"
        return done.outcome, reason


def _observation(observed: RoundAgents, w: Waiting) -> Observation:
    """What `decide` sees of the instance: with the round's failing pools and ambiguous agents when the list
    carries them (gate.service.judgment.RoundAgents.observation), else its agents alone."""
    observation = getattr(observed, "observation", None)
    if callable(observation):
        found: Observation = observation(w)
        return found
    if observed.index is None:
        return Observation(None, observed.error)
    return Observation(agents=observed.agents_for(w))


def describe_actions(decision: Decision) -> list[str]:
    """For the record: what the decision asked for, Complete shown as the termination it means here."""
    return [describe(Terminate() if isinstance(a, Complete) else a) for a in decision.actions]
