"""The judgment pass, one waiting instance at a time: decide from this round's agent list, then carry it out.

Runs after the round's heartbeat pass, on its own bounded pool, so a slow Azure DevOps delays only judgments
(never a heartbeat). `Judgment.judge` never raises: one instance's surprise becomes that instance's `error`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gate.domain.actions import DisableAgent
from gate.domain.decide import Decision, Observation, Policy
from gate.domain.holdstate import HOLD_TAG, AgentKey, Memory
from gate.domain.mapping import AgentIndex
from gate.domain.model import Agent, Outcome, Waiting
from gate.service.evidence import decide_with_evidence
from gate.service.execute import PROOF_STEP, Executed, LifecycleEdge, execute
from gate.service.heartbeats import Heartbeats
from gate.service.sources import AgentSource

if TYPE_CHECKING:
    from gate.adapters.ecs import Ecs


@dataclass(frozen=True, slots=True)
class RoundAgents:
    """This round's agent list (indexed), or why the agent system could not be asked; and, when only some pools
    answered, which failed (failure isolation: they hold the instances that may have agents there: every instance,
    unless GATE_GROUP_POOLS names the pools of its group)."""

    index: AgentIndex | None
    error: str | None = None
    failed_pools: Mapping[int | str, str] = field(default_factory=dict)  # pool id (or unresolved name) -> error
    answered_pools: frozenset[int] = frozenset()
    pool_names: Mapping[int | str, str] = field(default_factory=dict)  # pool key -> configured name
    group_pools: Mapping[str, frozenset[str]] = field(default_factory=dict)  # GATE_GROUP_POOLS
    asked: Mapping[AgentKey, Agent | None] = field(default_factory=dict)  # the list audit's direct answers
    # The (configured names of) pools whose answer can be believed: they listed agents, or their empty answer is
    # explained (gate.service.sources.ListingMemory).
    listed_pools: frozenset[str] = frozenset()

    def agents_for(self, waiting: Waiting) -> list[Agent]:
        return self.index.agents_for(waiting) if self.index is not None else []

    def observation(self, waiting: Waiting) -> Observation:
        """What `decide` sees of this instance: its agents, the failing pools, the ambiguous agents naming it."""
        if self.index is None:
            return Observation(agents=None, error=self.error)
        pools = self.group_pools.get(waiting.group)
        return Observation(
            agents=self.index.agents_for(waiting),
            failed_pools=self.failed_pools,
            answered_pools=self.answered_pools,
            pool_names=self.pool_names,
            group_pools=pools,
            ambiguous=tuple(a.describe() for a in self.index.ambiguous_for(waiting)),
            listed_any=bool(self.listed_pools if pools is None else self.listed_pools & pools),
        )


@dataclass(frozen=True, slots=True)
class Judged:
    waiting: Waiting  # as the next round should see it (hold and idle clocks carried over)
    done: Executed
    agents: list[Agent]
    now: float
    decision: Decision | None = None


def worth_logging(done: Executed, decision: Decision | None, last_reason: str | None) -> bool:
    """Every outcome but an unchanged hold is a record; a hold is one when it acted or its reason changed."""
    return done.outcome is not Outcome.HELD or bool(decision and decision.actions) or last_reason != done.reason


class Judgment:
    def __init__(
        self,
        aws: LifecycleEdge,
        source: AgentSource,
        heartbeats: Heartbeats,
        policy_for: Callable[[str], Policy],
        *,
        dry_run: bool = False,
        ecs: Ecs | None = None,
    ) -> None:
        self.aws = aws
        self.source = source
        self.heartbeats = heartbeats
        self.policy_for = policy_for
        self.dry_run = dry_run
        self.ecs = ecs
        # This container's memory of every hold (the gate is built once per container: gate.handler). Per gate, not
        # per process: a new container remembers nothing, and gates built side by side (tests, benchmarks, the
        # simulation's containers) share nothing.
        self.memory = Memory()

    def judge(
        self,
        waiting: Waiting,
        observed: RoundAgents,
        now: float,
        last_reason: str | None = None,
        look: Callable[[], RoundAgents] | None = None,
    ) -> Judged:
        """`look`: a fresh agent list for the final look before a release (gate.service.evidence); None skips it."""
        read = waiting.tags
        # Tags are a cache: this container's memory of the hold wins when the tag is missing or older (CreateTags
        # denied or failing), so no bound restarts just because a tag could not be written.
        waiting = dataclasses.replace(waiting, tags=self.memory.recall(read, waiting.action_id))
        try:
            decision = self.decide(waiting, observed, now, look)
            done = self.carry_out(decision, waiting)
        except Exception as exc:  # one instance's surprise must not starve the others
            done = Executed(Outcome.ERROR, f"unexpected {type(exc).__name__}: {exc}")
            return Judged(waiting, done, observed.agents_for(waiting), now)
        known = decision.tags if done.tags is None else done.tags
        self.memory.remember(waiting.action_id, read, None if done.done else known.get(HOLD_TAG))
        if any(isinstance(a, DisableAgent) for a in decision.actions):
            done.reason += self._skew_note(waiting, done.reason)
        # A failing heartbeat is already recorded as an error; trying again here would only wait on retries.
        unproven = done.outcome is Outcome.HELD and not done.heartbeat_sent
        unproven = unproven and waiting.instance_id not in self.heartbeats.failing
        if unproven and worth_logging(done, decision, last_reason) and self._needs_proof(waiting, done.reason, now):
            if self._proven_by_this_rounds_heartbeat(waiting, decision):
                self.heartbeats.proven_reason[waiting.instance_id] = _shape(done.reason)
            else:
                done = self._prove_held(waiting, done)
        tags = decision.tags if done.tags is None else done.tags
        carried = dataclasses.replace(waiting, tags=dict(tags))  # the hold state as tagged now
        return Judged(carried, done, observed.agents_for(waiting), now, decision)

    def _skew_note(self, waiting: Waiting, reason: str) -> str:
        """The agent service's clock skew, measured on its responses (its `Date` against our clock), in the record of
        a decision that disabled agents: over Policy.clock_skew_seconds the acknowledged-disable rule is off."""
        skew = getattr(self.source, "clock_skew", None)
        limit = self.policy_for(waiting.group).clock_skew_seconds
        if not isinstance(skew, float | int) or abs(skew) <= limit or "clock skew" in reason:
            return ""
        return f"; agent service clock skew {skew:+.0f}s (over {limit:.0f}s): the lag bound applies"

    def _needs_proof(self, waiting: Waiting, reason: str, now: float) -> bool:
        """A `held` that repeats the reason this container last proved, while a heartbeat is not yet due, needs no new
        proof: proving every invocation's record would cost a heartbeat a minute per held instance in the account's
        shared Auto Scaling bucket, whatever the hook's HeartbeatTimeout (issue: calls per held instance-hour).
        A changed reason (the stale-list race after a concurrent release) or a due heartbeat is proven; a countdown in
        the reason ("waiting 40s more") is not a change."""
        iid = waiting.instance_id
        last = self.heartbeats.last_sent.get(iid)
        every = self.policy_for(waiting.group).heartbeat_interval_seconds
        fresh = last is not None and now - last < every
        return not (fresh and self.heartbeats.proven_reason.get(iid) == _shape(reason))

    def _proven_by_this_rounds_heartbeat(self, waiting: Waiting, decision: Decision) -> bool:
        """A `held` that disabled an agent needs no second heartbeat when this container's heartbeat for the action
        succeeded at most SAME_ROUND_PROOF_SECONDS ago (the heartbeat pass of this round, before the agent list).

        The proof exists for one race: a concurrent invocation releases the action after this one read its agent
        list, and this one's `held` would follow the `released`. This decision saw an agent still enabled after the
        heartbeat, and no invocation releases an instance with an enabled agent: it must first disable it and wait
        for the acknowledgement and a job ending after it, or for the lag bound. So a release that this round's
        heartbeat did not see would have to fit between the heartbeat and the end of this decision (seconds): the
        residual window is of the same kind as the one left today between the proof and the record's write. Every
        other claim (busy, idle inside the lag bound, absent agents...) can be overtaken by a concurrent release and
        is still proven after its decision (tests/functional/liveness/test_deadlines_and_records.py)."""
        last = self.heartbeats.last_sent.get(waiting.instance_id)
        if last is None or waiting.instance_id in self.heartbeats.gone:
            return False
        if self.heartbeats.clock.now() - last > SAME_ROUND_PROOF_SECONDS:
            return False
        return any(isinstance(a, DisableAgent) for a in decision.actions)

    def _prove_held(self, waiting: Waiting, done: Executed) -> Executed:
        """A `held` record claims the action is still ours: prove it with a heartbeat sent after the decision, so a
        release by a concurrent invocation turns this record into `gone` instead of a stale `held` after it."""
        beat = self.heartbeats.beat(waiting)
        if beat.gone is not None:
            return Executed(Outcome.GONE, f"lifecycle action gone: {beat.gone}", done=True)
        if beat.error is not None:
            done.reason += f"; heartbeat failed: {beat.error}"
        elif beat.sent:
            self.heartbeats.proven_reason[waiting.instance_id] = _shape(done.reason)
        done.heartbeat_sent = beat.sent
        return done

    def decide(
        self, waiting: Waiting, observed: RoundAgents, now: float, look: Callable[[], RoundAgents] | None = None
    ) -> Decision:
        """`decide`, asking the edges for the extra evidence it wants before a release (gate.service.evidence).

        Proof that the action is ours (needed before the first tag or disable): a heartbeat under our hook succeeded
        for the instance and AWS has not since said the action is gone."""
        policy = self.policy_for(waiting.group)
        iid = waiting.instance_id
        proven = iid in self.heartbeats.last_sent and iid not in self.heartbeats.gone
        obs = observed.observation(waiting)
        final_look = None if look is None or self.dry_run else (lambda: look().observation(waiting))
        index = observed.index
        owns = None if index is None else (lambda agent: index.owns(waiting, agent))
        return decide_with_evidence(
            waiting,
            obs,
            policy,
            now,
            self.source,
            proven=proven,
            ecs=self.ecs,
            look=final_look,
            asked=observed.asked,
            owns=owns,
        )

    def carry_out(self, decision: Decision, waiting: Waiting) -> Executed:
        """A dry run's plan starts with the heartbeat pass's proof step when this round planned one."""
        before = (PROOF_STEP,) if self.dry_run and self.heartbeats.take_planned(waiting.instance_id) else ()
        return execute(
            decision,
            waiting,
            self.aws,
            self.source,
            self.dry_run,
            self.heartbeats.clock.now,
            ecs=self.ecs,
            before=before,
        )


# How recent this container's heartbeat must be (sent in this round, before the agent list) to stand as the proof of a
# `held` that disabled an agent (Judgment._proven_by_this_rounds_heartbeat). A slower round (Azure DevOps slow, a
# round of thousands) proves after its decision as before.
SAME_ROUND_PROOF_SECONDS = 5.0


def _shape(reason: str) -> str:
    """A reason without its numbers of seconds: the same hold counting down is the same claim."""
    return _SECONDS.sub("#s", reason)


_SECONDS = re.compile(r"\d+(?:\.\d+)?s\b")
