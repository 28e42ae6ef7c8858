"""The steps of a round, each one call site (gate.service.rounds runs them in order): find what waits (Auto Scaling
only), drop groups whose hook is wrong, the heartbeat pass, EC2 details and the actions' identities, one agent list
per pool (audited), the judgment pass, protection. Holds the per-container memory the steps share (what was last
found, what was reported once)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gate.adapters.logs import DecisionLog
from gate.domain.clock import Clock
from gate.domain.holdstate import AgentKey, load
from gate.domain.mapping import AgentIndex
from gate.domain.model import Agent, Outcome, Waiting
from gate.service.execute import LifecycleEdge, describe
from gate.service.freshcall import FreshCall
from gate.service.heartbeats import Beat, HeartbeatEdge, Heartbeats
from gate.service.hooks import Hook, HookProblem, Hooks, HookSource, foreign_hook_problem
from gate.service.judgment import Judged, Judgment, RoundAgents, worth_logging
from gate.service.records import Recorder
from gate.service.sources import AgentSource, AgentSourceError, Listing, ListingMemory, audited, list_pools
from gate.service.workers import Workers
from gate.settings import Settings

if TYPE_CHECKING:
    from gate.service.protection import Protector
    from gate.service.rounds import Run


class RoundEdge(HeartbeatEdge, HookSource, LifecycleEdge, Protocol):
    """What a round asks of Auto Scaling and EC2 (gate.adapters.aws.Aws implements it; bench/memory_aws.py is the
    in-memory one): the passes' own calls, and those of the parts it drives (heartbeats, hooks, executor, clean-up).
    Every call is bounded by `set_deadline`. Errors: ActionGone, AwsError. The clean-up's calls are listed here
    rather than inherited from gate.service.retained.RetainedEdge: the handler imports the clean-up only when a tick
    runs it (cold start)."""

    listed_groups: frozenset[str] | None  # the groups the last DescribeAutoScalingGroups listed (None: not yet)

    @property
    def warm_pool_errors(self) -> Mapping[str, str]:  # {group: error} of the last find_waiting's DescribeWarmPool calls
        ...

    def set_deadline(self, deadline: float | None, now: Callable[[], float] | None = None) -> None: ...

    def find_waiting(self, groups: Sequence[str], hook: str) -> list[Waiting]: ...

    def describe_instances(self, instance_ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    def action_ids(self, wanted: dict[str, list[str]]) -> dict[str, str]: ...

    def group_instances(self, groups: Sequence[str]) -> list[tuple[str, dict[str, Any]]]: ...

    def tagged(self, keys: Sequence[str], max_pages: int = 100) -> dict[str, list[str]]: ...

    def tag_many(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> None: ...


class Passes:
    def __init__(
        self,
        settings: Settings,
        aws: RoundEdge,
        source: AgentSource,
        clock: Clock,
        log: DecisionLog,
        recorder: Recorder,
        hooks: Hooks,
        heartbeats: Heartbeats,
        judgment: Judgment,
        protector: Protector | None = None,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self.source = source
        self.clock = clock
        self.log = log
        self.recorder = recorder
        self.hooks = hooks
        self.heartbeats = heartbeats
        self.judgment = judgment
        self.protector = protector
        self.judges = Workers(settings.agent_concurrency, clock, "judgment")
        self.reported_gone: set[str] = set()  # a `gone` is recorded once per instance per container
        self.reported_ambiguous: set[tuple[str, int, int, str]] = set()  # ambiguous agents: once per container
        # The tick's last answer from DescribeAutoScalingGroups: when that call fails (throttled), a warm container
        # still heartbeats what was waiting then. A heartbeat for an instance no longer waiting is only a `gone`.
        self.last_found: list[Waiting] = []
        self.listed = ListingMemory()  # what each pool listed: when an empty answer is evidence (gate.service.sources)
        self._fresh_list = FreshCall(lambda: list_pools(self.source))  # the final looks' shared list

    def find(self, run: Run) -> list[Waiting] | None:
        """The round's one DescribeAutoScalingGroups (Auto Scaling only), or the followed instance."""
        if run.follow is not None:
            return list(run.follow)
        try:
            found = self.aws.find_waiting(self.settings.groups, self.settings.hook_name)
        except Exception as exc:  # a tick must log, not crash
            self.once(run, "describe", Outcome.ERROR, f"describe groups failed: {exc}")
            return None
        for group, error in sorted(self.aws.warm_pool_errors.items()):
            # Still heartbeat (and judge) what the pool last listed waiting: a wrong guess is only a `gone`.
            listed = {w.instance_id for w in found}  # a Warmed:* instance the group's own list has is not carried twice
            kept = [
                w
                for w in self.last_found
                if w.group == group and w.lifecycle_state.startswith("Warmed:") and w.instance_id not in listed
            ]
            found.extend(kept)
            for w in kept:
                run.failsafe[w.instance_id] = "autoscaling"
            reason = f"describe warm pool of {group} failed: {error}; heartbeating the {len(kept)} it last listed"
            self.once(run, f"warm:{group}", Outcome.ERROR, reason, group=group)
        self.last_found = list(found)
        ids = {w.instance_id for w in found}
        self.heartbeats.prune(ids)
        self.reported_gone &= ids
        return found

    def with_our_hook(self, run: Run, found: list[Waiting], listed: frozenset[str] | None = None) -> list[Waiting]:
        """Drop the instances of groups whose hook is missing or mismatched, with one `error` per group per
        invocation (alarmed). The tick checks every configured group, waiting instances or not. `listed`: the groups
        this round's DescribeAutoScalingGroups listed; a configured group it lacks is "not found" (deleted or
        misnamed), whatever DescribeLifecycleHooks says about it. A group whose other terminating hooks would end the
        wait before the gate's max hold is one `error` too (its instances are still held: the gate's hook is fine)."""
        groups = sorted(set(self.settings.groups) if run.follow is None else {w.group for w in found})
        bad: set[str] = set()
        for group in groups:
            if listed is not None and group not in listed:
                bad.add(group)
                reason = (
                    f"Auto Scaling group {group} not found (DescribeAutoScalingGroups does not list it: deleted or "
                    "misnamed): remove it from GATE_GROUPS (the module's autoscaling_group_names) or fix its name"
                )
                self.once(run, f"hook:{group}", Outcome.ERROR, reason, group=group, hook=self.settings.hook_name)
                continue
            hook = self.hooks.lookup(group)
            if isinstance(hook, HookProblem):
                bad.add(group)
                self.once(run, f"hook:{group}", Outcome.ERROR, hook.reason, group=group, hook=self.settings.hook_name)
            elif isinstance(hook, Hook):
                # The longest hold any priority tier may ask for (gate.domain.tiers).
                longest = max([self.settings.max_hold_seconds, *(t.max_hold_seconds for t in self.settings.tiers)])
                max_hold = hook.max_hold(longest)
                foreign = foreign_hook_problem(group, self.hooks.foreign(group), max_hold)
                if foreign is not None:
                    self.once(run, f"foreign-hooks:{group}", Outcome.ERROR, foreign, group=group, hook=hook.name)
        return [w for w in found if w.group not in bad]

    def heartbeat_pass(self, run: Run, waiting: list[Waiting]) -> None:
        pairs = [(w, self.hooks.heartbeat_every(w.group)) for w in waiting]
        self.report_beats(run, self.heartbeats.run(pairs, run.hard))
        if self.heartbeats.unsent:  # the one thing that must never be cut short: alarm
            unsent = self.heartbeats.unsent
            reason = f"heartbeat pass cut short by the invocation deadline: {unsent} due heartbeat(s) not sent"
            self.once(run, "heartbeat-deadline", Outcome.ERROR, reason)

    def heartbeat_second_chance(self, run: Run) -> None:
        """At the round's end (after judgment and its actions), the heartbeats this round's pass could not send
        (failed, or cut short by the deadline) once more, by the same deadline: throttling must not time a hook out.
        Counted in `run.second_chances` and one `heartbeat_second_chance` log line."""
        beats = self.heartbeats.second_chance(run.hard)
        if not beats:
            return
        self.report_beats(run, beats)
        sent = sum(1 for b in beats if b.sent)
        run.second_chances += len(beats)
        run.second_chances_sent += sent
        self.log.info("heartbeat_second_chance", tried=len(beats), sent=sent)

    def report_beats(self, run: Run, beats: list[Beat]) -> None:
        """A `gone` once per instance per container; a failed heartbeat one `error` per instance per invocation."""
        for beat in beats:
            w = beat.waiting
            where = {"group": w.group, "instance": w.instance_id, "hook": w.hook}
            if beat.gone is not None and w.instance_id not in self.reported_gone:
                self.reported_gone.add(w.instance_id)
                known = run.known.get(w.instance_id, w)
                run.records.append(
                    self.recorder.decision(known, Outcome.GONE, f"lifecycle action gone: {beat.gone}", [])
                )
            elif beat.error is not None:
                self.once(run, f"heartbeat:{w.instance_id}", Outcome.ERROR, f"heartbeat failed: {beat.error}", **where)

    def with_details(self, run: Run, live: list[Waiting]) -> list[Waiting]:
        """EC2 details (tags, private DNS) for instances first seen this invocation. When EC2 fails they are not
        judged in this invocation (they are heartbeated every round): one `error`, no retry until the next one."""
        new = [w.instance_id for w in live if w.instance_id not in run.known]
        if new and "ec2" not in run.reported and self.clock.now() < run.hard:  # failed: next invocation retries
            try:
                details = self.aws.describe_instances(new)
            except Exception as exc:
                reason = f"describe instances failed: {exc}; {len(new)} waiting instance(s) heartbeated, not judged"
                self.once(run, "ec2", Outcome.ERROR, reason)
            else:
                for w in live:
                    if w.instance_id in new:
                        run.known[w.instance_id] = dataclasses.replace(w, **details.get(w.instance_id, {}))
        self.with_identity(run, [run.known[w.instance_id] for w in live if w.instance_id in run.known])
        return [
            dataclasses.replace(run.known[w.instance_id], lifecycle_state=w.lifecycle_state)
            for w in live
            if w.instance_id in run.known
        ]

    def with_identity(self, run: Run, known: list[Waiting]) -> None:
        """The identity of each lifecycle action (its terminate activity, gate.domain.holdstate), looked up once per
        invocation; without one an instance is held untouched (no tags, no disables). One `error` per invocation."""
        wanted: dict[str, list[str]] = {}
        for w in known:
            if w.action_id is None:
                wanted.setdefault(w.group, []).append(w.instance_id)
        if not wanted or self.clock.now() >= run.hard:
            return
        try:
            ids = self.aws.action_ids(wanted)
        except Exception as exc:
            self.once(run, "activities", Outcome.ERROR, f"describe scaling activities failed: {exc}; holding")
            return
        for iid, action_id in ids.items():
            if iid in run.known:
                run.known[iid] = dataclasses.replace(run.known[iid], action_id=action_id)

    def judgment_pass(self, run: Run, waiting: list[Waiting], observed: RoundAgents) -> set[str]:
        """Judge every instance concurrently (bounded) by the deadline; returns the ids needing no further round."""

        def judge(w: Waiting) -> Judged:
            look = lambda: self.final_look(waiting)  # noqa: E731  (just before a release: gate.service.evidence)
            return self.judgment.judge(w, observed, self.clock.now(), run.last_reason.get(w.instance_id), look)

        judged = self.judges.map(judge, waiting, run.hard)
        if len(judged) < len(waiting):
            self.log.info("round_cut_short", reason="invocation deadline", left=len(waiting) - len(judged))
        finished: set[str] = set()
        for w, j in judged:
            iid, done, decision = w.instance_id, j.done, j.decision
            run.known[iid] = j.waiting
            if done.heartbeat_sent:
                self.heartbeats.last_sent[iid] = j.now
            if worth_logging(done, decision, run.last_reason.get(iid)):
                actions = done.planned or ([describe(a) for a in decision.actions] if decision else [])
                held_since = decision.held_since if decision else None
                failsafe = decision.failsafe if decision is not None and done.outcome is Outcome.HELD else None
                run.records.append(
                    self.recorder.decision(
                        j.waiting,
                        done.outcome,
                        done.reason,
                        j.agents,
                        held_since=held_since,
                        actions=actions,
                        now=j.now,
                        failsafe=failsafe,
                        tier=decision.tier if decision is not None else None,
                    )
                )
            run.last_reason[iid] = done.reason
            cause = decision.failsafe if decision is not None and done.outcome is Outcome.HELD else None
            if done.outcome is Outcome.ERROR and not done.done:  # e.g. tags denied: held by the error
                cause = "error"
            if cause is not None:
                run.failsafe[iid] = cause
            else:
                run.failsafe.pop(iid, None)
            if decision is not None and decision.recheck_at is not None:
                run.recheck[iid] = decision.recheck_at
            else:
                run.recheck.pop(iid, None)
            if done.done:
                finished.add(iid)
                self.reported_gone.add(iid)  # ended here: a later `gone` would only repeat it
                self.heartbeats.ended(iid, f"{done.outcome} by this gate")
            elif run.leave_busy_to_tick and any(a.busy for a in j.agents):
                finished.add(iid)
        return finished

    def observe(self, instances: Sequence[Waiting] = ()) -> RoundAgents:
        """One agent list per pool for the whole round. A pool that fails is named in `failed_pools` and holds the
        instances that may have agents there (every instance unless GATE_GROUP_POOLS names its group's pools); only
        when every pool fails is the agent system unavailable.
        `instances`: the round's instances (a host name two of them answer to is ambiguous)."""
        try:
            listing = list_pools(self.source)
        except AgentSourceError as exc:
            return RoundAgents(None, str(exc))
        listing, asked = audited(listing, self.source, self.seen(instances) | self.listed.expected())
        believed = self.listed.update(listing, asked)
        return self._observed(listing, instances, asked, believed)

    def final_look(self, instances: Sequence[Waiting]) -> RoundAgents:
        """The list once more, just before a release (gate.service.evidence): the round's `observe` already audited
        it and updated this container's memory, so this look does neither. It runs on the judgment pass's threads,
        and only a change from the round's list matters (a change means no release this round). Releases deciding
        together share one list, but only one that started after each asked (gate.service.freshcall)."""
        try:
            listing = self._fresh_list.get()
        except AgentSourceError as exc:
            return RoundAgents(None, str(exc))
        return self._observed(listing, instances, {}, frozenset(a.pool_id for a in listing.agents))

    def _observed(
        self,
        listing: Listing,
        instances: Sequence[Waiting],
        asked: Mapping[AgentKey, Agent | None],
        believed: frozenset[int],
    ) -> RoundAgents:
        if listing.failed and not listing.answered:
            return RoundAgents(None, "; ".join(listing.failed.values()))
        index = self.index(listing.agents, instances)
        return RoundAgents(
            index,
            asked=asked,
            listed_pools=frozenset(listing.names.get(p, str(p)) for p in believed),
            failed_pools=dict(listing.failed),
            answered_pools=listing.answered,
            pool_names=dict(listing.names),
            group_pools={g: frozenset(ps) for g, ps in self.settings.group_pools.items()},
        )

    def seen(self, instances: Sequence[Waiting]) -> frozenset[AgentKey]:
        """The agents the round's holds have seen (their tags, or this container's memory of them)."""
        now = self.clock.now()
        seen: set[AgentKey] = set()
        for w in instances:
            state = load(self.judgment.memory.recall(w.tags, w.action_id), w.action_id, now)
            if state is not None:
                seen |= state.seen
        return frozenset(seen)

    def index(self, agents: Sequence[Agent], instances: Sequence[Waiting] = ()) -> AgentIndex:
        return AgentIndex(agents, self.settings.mapping, self.settings.capability_name, instances)

    def report_observed(self, run: Run, observed: RoundAgents) -> None:
        """Failure isolation and ambiguity are loud: one `error` per failing pool per invocation, and one per
        ambiguous agent per container (it stays ambiguous until renamed; each hold it touches says so too)."""
        if observed.index is None and observed.error:  # no answer at all (its credential, sign-in, client set-up)
            self.once(run, "agent-system", Outcome.ERROR, f"agent system unavailable: {observed.error}; holding")
        for pool, error in observed.failed_pools.items():
            reason = (
                f"agent pool {pool} failing: {error}; instances that may have agents there are held (their other "
                "agents disabled): every instance unless GATE_GROUP_POOLS names its group's pools"
            )
            self.once(run, f"pool:{pool}", Outcome.ERROR, reason)
        for amb in observed.index.ambiguous if observed.index is not None else ():
            key = (amb.agent.source, amb.agent.pool_id, amb.agent.id, amb.agent.name)
            if key not in self.reported_ambiguous:
                self.reported_ambiguous.add(key)
                run.records.append(self.recorder.plain(Outcome.ERROR, f"ambiguous mapping: {amb.describe()}"))

    def protect(self, observed: RoundAgents) -> None:
        assert self.protector is not None
        if self.settings.dry_run:
            return
        try:
            index = observed.index if not observed.failed_pools else None  # a failing pool: change nothing
            self.protector.sync(index.agents_for if index is not None else None)
        except Exception as exc:  # protection is an optimisation: it must never stop the reconciler
            self.log.error("protection_failed", error=f"{type(exc).__name__}: {exc}")

    def bound_calls(self, deadline: float | None) -> None:
        """Every outbound call's timeout is bounded by what is left of the invocation (None: unbounded again)."""
        self.aws.set_deadline(deadline, self.clock.now)
        set_deadline = getattr(self.source, "set_deadline", None)  # AgentSource.set_deadline (gate/adapters/azure.py)
        if callable(set_deadline):
            set_deadline(deadline)

    def once(self, run: Run, key: str, outcome: Outcome, reason: str, **where: Any) -> None:
        if key not in run.reported:
            run.reported.add(key)
            run.records.append(self.recorder.plain(outcome, reason, **where))
