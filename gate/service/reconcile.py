"""The gate's rounds: heartbeats first, then judgment, repeated until the invocation's budget or deadline.

A round is one DescribeAutoScalingGroups -> our hook checked -> the heartbeat pass (Auto Scaling only) -> EC2 details
-> one agent list per pool -> the judgment pass. Nothing after the heartbeat pass can delay a heartbeat, and the
round is level-triggered: the tick re-reads the groups every round, so lost or duplicate events change nothing.
Triggers: `tick` (every configured group), `on_lifecycle` (one instance, the fast path) and `on_spot`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gate.adapters.aws import Aws
from gate.adapters.logs import DecisionLog, Record
from gate.domain.actions import DisableAgent
from gate.domain.clock import Clock, SystemClock
from gate.domain.decide import Decision, Policy
from gate.domain.events import LifecycleEvent, Scope, SpotInterruptionEvent
from gate.domain.holdstate import AgentKey, load
from gate.domain.mapping import AgentIndex
from gate.domain.model import WAIT_STATES, Agent, Outcome, Waiting
from gate.service.execute import describe, execute
from gate.service.heartbeats import Heartbeats
from gate.service.hooks import Hook, HookProblem, Hooks, foreign_hook_problem
from gate.service.judgment import Judged, Judgment, Observed, worth_logging
from gate.service.records import Recorder
from gate.service.sources import AgentSource, AgentSourceError, audited, list_pools
from gate.service.workers import Workers
from gate.settings import Settings

if TYPE_CHECKING:
    from gate.adapters.ecs import Ecs
    from gate.adapters.notify import Notifier
    from gate.service.protection import Protector


# Without a Lambda context, a round may overrun the budget by this much, never more (Terraform: a 70 s timeout
# for a 50 s budget).
ROUND_GRACE_SECONDS = 15.0


def policy_from(settings: Settings) -> Policy:
    """The decision policy: every field of `Policy` that is also a setting comes from the settings (whose defaults
    are Policy's own, gate/settings.py); the others (clock_skew_seconds) keep Policy's default."""
    names = [f.name for f in dataclasses.fields(Policy) if f.name in Settings.model_fields]
    return Policy(**{name: getattr(settings, name) for name in names})


@dataclass
class _Run:
    """One invocation's memory between its rounds."""

    follow: list[Waiting] | None  # the event path's instance; None: re-read the groups every round (the tick)
    soft: float  # no round starts after this
    hard: float  # no call starts after this
    leave_busy_to_tick: bool = False
    known: dict[str, Waiting] = field(default_factory=dict)  # with EC2 details and the hold/idle clocks
    last_reason: dict[str, str] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)  # problems recorded once per invocation
    pending: list[Waiting] = field(default_factory=list)  # still ours and not finished: worth another round
    records: list[Record] = field(default_factory=list)
    recheck: dict[str, float] = field(default_factory=dict)  # when time alone may change a decision (lag bound)
    failsafe: dict[str, str] = field(default_factory=dict)  # instance -> why an error keeps it waiting (latest round)


class Gate:
    def __init__(
        self,
        settings: Settings,
        aws: Aws,
        source: AgentSource,
        clock: Clock | None = None,
        log: DecisionLog | None = None,
        *,
        region: str | None = None,
        account: str | None = None,
        ecs: Ecs | None = None,
        protector: Protector | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self.source = source
        self.clock = clock or SystemClock()
        self.log = log or DecisionLog(settings.metrics_namespace)
        self.region = region
        self.account = account
        self.scope = Scope(tuple(settings.groups), settings.hook_name, region, account)
        self.ecs = ecs  # set the container instance DRAINING before release (settings.ecs_drain)
        self.protector = protector  # scale-in protection while busy (settings.protect_busy)
        self.notifier = notifier  # webhook for forced, error and long holds (settings.webhook_url)
        self.recorder = Recorder(self.log, self.clock, notifier)
        self.policy = policy_from(settings)
        self.hooks = Hooks(aws, settings.hook_name, self.clock.now, self._hook_lookup_failed)
        self.heartbeats = Heartbeats(aws, self.clock, settings.heartbeat_concurrency)
        self.judgment = Judgment(aws, source, self.heartbeats, self.policy_for, dry_run=settings.dry_run, ecs=ecs)
        self.judges = Workers(settings.agent_concurrency, self.clock, "judgment")
        self._reported_gone: set[str] = set()  # a `gone` is recorded once per instance per container
        self._reported_ambiguous: set[tuple[str, int, int, str]] = set()  # ambiguous agents: once per container
        # The tick's last answer from DescribeAutoScalingGroups: when that call fails (throttled), a warm container
        # still heartbeats what was waiting then. A heartbeat for an instance no longer waiting is only a `gone`.
        self._last_found: list[Waiting] = []

    @property
    def last_heartbeat(self) -> dict[str, float]:
        return self.heartbeats.last_sent

    @last_heartbeat.setter
    def last_heartbeat(self, value: dict[str, float]) -> None:
        self.heartbeats.last_sent = value

    def policy_for(self, group: str) -> Policy:
        """The settings' policy, with the max hold capped below the hook's global timeout and its cadence."""
        hook = self.hooks.lookup(group)
        if not isinstance(hook, Hook):
            return self.policy
        return dataclasses.replace(
            self.policy,
            max_hold_seconds=hook.max_hold(self.settings.max_hold_seconds),
            heartbeat_interval_seconds=hook.heartbeat_every,
        )

    # -- triggers ---------------------------------------------------------------------------------------
    def tick(self, budget: float | None = None, *, deadline: float | None = None) -> list[Record]:
        """Reconcile every waiting instance of the configured groups, then the retained and back-in-service ones."""
        run = self._run(None, budget, deadline=deadline)
        records = run.records + self._clean_up(deadline, run.failsafe)
        self.log.failsafe_holds(run.failsafe, self.clock.now())
        return records

    def _clean_up(self, deadline: float | None, failsafe: dict[str, str] | None = None) -> list[Record]:
        """Retained instances (delete agents, terminate once idle) and hold tags on in-service instances
        (gate/service/retained.py). After the round, so it never delays a heartbeat; a failure is one `error` record."""
        from gate.service.retained import RetainedCleanup

        if self.settings.dry_run or (deadline is not None and self.clock.now() >= deadline):
            return []
        cleanup = RetainedCleanup(
            self.aws, self.source, self.settings.groups, self.settings.hook_name, self.policy_for, ecs=self.ecs
        )
        self._bound_calls(deadline)
        try:
            cleaned = cleanup.run(self.observe, self.clock.now())
        except Exception as exc:  # a tick must log, not crash
            return [self.recorder.plain(Outcome.ERROR, f"retained clean-up failed: {type(exc).__name__}: {exc}")]
        finally:
            self._bound_calls(None)
        records = []
        for c in cleaned:
            if c.failsafe is not None and failsafe is not None:
                failsafe[c.waiting.instance_id] = c.failsafe
            records.append(
                self.recorder.decision(c.waiting, c.outcome, c.reason, c.agents, actions=c.actions, failsafe=c.failsafe)
            )
        return records

    def on_lifecycle(
        self, event: LifecycleEvent, budget: float | None = None, *, deadline: float | None = None
    ) -> list[Record]:
        d = event.detail
        where = {"group": d.group, "instance": d.instance_id, "hook": d.hook}
        reason = self.scope.not_ours(event)
        if reason:
            return [self.recorder.plain(Outcome.SKIPPED, reason, **where)]
        try:
            # A forged, stale or duplicate event must not disable anyone's agents: check the instance really
            # waits in that group (the token itself is checked by AWS on heartbeat/complete).
            group, state = self.aws.instance_state(d.instance_id)
        except Exception as exc:  # AwsError, or the deadline: the tick retries
            return [
                self.recorder.plain(Outcome.ERROR, f"cannot verify the instance ({exc}); the tick retries", **where)
            ]
        if group != d.group or state not in WAIT_STATES:
            found = f"in {group}, {state}" if group else "in no group"
            return [self.recorder.plain(Outcome.SKIPPED, f"instance is not waiting in {d.group} ({found})", **where)]
        if d.leaves_warm_pool:
            state = "Warmed:Terminating:Wait"
        waiting = Waiting(d.group, d.instance_id, d.hook, state, d.lifecycle_action_token)
        return self.run([waiting], budget, leave_busy_to_tick=True, deadline=deadline)

    def on_spot(self, event: SpotInterruptionEvent) -> list[Record]:
        """Two minutes' warning, no hook can delay it: keep new jobs off the instance at once."""
        iid = event.detail.instance_id
        elsewhere = self.scope.elsewhere(event.region, event.account)
        if elsewhere:
            return [self.recorder.plain(Outcome.SKIPPED, elsewhere, instance=iid)]
        try:
            group, _ = self.aws.instance_state(iid)
            details = self.aws.describe_instances([iid]).get(iid, {})
        except Exception as exc:  # a spot warning must log, not crash
            return [self.recorder.plain(Outcome.ERROR, f"spot: describe failed: {exc}", instance=iid)]
        if group is None or group not in self.settings.groups:
            return [self.recorder.plain(Outcome.SKIPPED, "spot: instance not in a configured group", instance=iid)]
        waiting = Waiting(group, iid, self.settings.hook_name, private_dns=details.get("private_dns"))
        try:
            listing = list_pools(self.source)  # a failing pool: disable what the others show
        except AgentSourceError as exc:
            return [self.recorder.decision(waiting, Outcome.ERROR, f"spot: disable failed: {exc}", [])]
        agents = self._index(listing.agents).agents_for(waiting)
        todo = [a for a in agents if not a.drained]
        if not self.settings.dry_run:  # through the one executor: a failing disable does not stop the others
            disables = Decision(Outcome.SPOT, "spot", tuple(DisableAgent(a) for a in todo))
            done = execute(disables, waiting, self.aws, self.source, False)
            if done.problems:
                reason = "spot: " + "; ".join(done.problems)
                return [self.recorder.decision(waiting, Outcome.ERROR, reason, agents)]
        verb = "would disable" if self.settings.dry_run else "disabled"
        cannot = [a for a in agents if not a.disableable]
        already = len(agents) - len(todo) - len(cannot)
        parts = [f"{verb} {len(todo)} agent(s)"]
        if cannot:  # GitHub runners: nothing can stop a queued job from landing in the last two minutes
            parts.append(f"{len(cannot)} cannot be disabled ({cannot[0].source})")
        if already:
            parts.append(f"{already} already disabled")
        if not agents:
            parts = ["no agent found for the instance"]
        if listing.failed:
            parts.append(f"agent pool(s) {', '.join(map(str, listing.failed))} failing: not disabled there")
        reason = f"spot interruption ({event.detail.instance_action}): " + ", ".join(parts)
        return [self.recorder.decision(waiting, Outcome.SPOT, reason, agents)]

    # -- the loop ---------------------------------------------------------------------------------------
    def run(
        self,
        waiting: Sequence[Waiting] | None = None,
        budget: float | None = None,
        *,
        leave_busy_to_tick: bool = False,
        deadline: float | None = None,
    ) -> list[Record]:
        """Rounds until nothing of ours waits, or the budget. `waiting`: follow these instances (the event path);
        None re-reads the groups each round. `deadline` (the Lambda context's, on this clock) caps the budget.

        `leave_busy_to_tick` (the event fast path): stop following an instance once a build is seen running on it;
        the tick re-checks every waiting instance with one agent list per pool.

        Ends with the invocation's FailsafeHolds line when an error keeps an instance waiting (gate.adapters.logs).
        """
        run = self._run(waiting, budget, leave_busy_to_tick=leave_busy_to_tick, deadline=deadline)
        self.log.failsafe_holds(run.failsafe, self.clock.now())
        return run.records

    def _run(
        self,
        waiting: Sequence[Waiting] | None,
        budget: float | None,
        *,
        leave_busy_to_tick: bool = False,
        deadline: float | None = None,
    ) -> _Run:
        run = self._start(waiting, budget, deadline, leave_busy_to_tick)
        try:
            first = True
            while True:
                self._round(run, first)
                first = False
                wait = self._next_wait(run)
                if not run.pending or self.clock.now() + wait > run.soft:
                    break
                self.clock.sleep(wait)
        finally:
            self._bound_calls(None)
        return run

    def _start(
        self, waiting: Sequence[Waiting] | None, budget: float | None, deadline: float | None, leave_busy: bool
    ) -> _Run:
        now = self.clock.now()
        soft = now + (self.settings.tick_budget_seconds if budget is None else budget)
        hard = soft + ROUND_GRACE_SECONDS if deadline is None else min(soft + ROUND_GRACE_SECONDS, deadline)
        self._bound_calls(hard)
        follow = list(waiting) if waiting is not None else None
        return _Run(follow, min(soft, hard), hard, leave_busy)

    def _round(self, run: _Run, first: bool) -> None:
        found = self._find(run)
        if found is None:
            run.pending = []
            if self._last_found and not self.settings.dry_run:  # liveness without judgment: heartbeats only
                kept = self._with_our_hook(run, list(self._last_found))
                self._heartbeat_pass(run, kept)
                for w in kept:  # held by the error, unjudged: counted until DescribeAutoScalingGroups answers
                    if w.instance_id not in self.heartbeats.gone:
                        run.failsafe.setdefault(w.instance_id, "autoscaling")
            return
        listed = self.aws.listed_groups if run.follow is None else None  # set by this round's _find
        ours = self._with_our_hook(run, found, listed)
        random.shuffle(ours)  # when time runs out mid-round, a different tail waits each time
        if not self.settings.dry_run:
            self._heartbeat_pass(run, ours)
        live = [w for w in ours if w.instance_id not in self.heartbeats.gone]
        judgeable = self._with_details(run, live)
        for iid in set(run.failsafe) - {w.instance_id for w in live}:  # no longer waiting (gone): no longer held
            del run.failsafe[iid]
        unjudged = {w.instance_id for w in live} - {w.instance_id for w in judgeable}
        for iid in unjudged:  # EC2 details failed: heartbeated, never judged until EC2 answers
            run.failsafe[iid] = "ec2"
        observed = None
        if judgeable or (first and run.follow is None and self.protector is not None):
            observed = self.observe(judgeable) if self.clock.now() < run.hard else None
            if observed is not None:
                self._report_observed(run, observed)
        if first and run.follow is None and self.protector is not None and observed is not None:
            self._protect(observed)
        finished = self._judgment_pass(run, judgeable, observed) if observed is not None else set()
        # The tick keeps every live instance (unjudged ones still need this invocation's heartbeats); the event path
        # follows only what it could judge, and leaves the rest to the tick.
        judged = {w.instance_id for w in judgeable} if run.follow is not None else {w.instance_id for w in live}
        run.pending = [w for w in live if w.instance_id in judged and w.instance_id not in finished]
        if run.follow is not None:
            run.follow = [w for w in run.follow if w.instance_id in {p.instance_id for p in run.pending}]

    def _find(self, run: _Run) -> list[Waiting] | None:
        """The round's one DescribeAutoScalingGroups (Auto Scaling only), or the followed instance."""
        if run.follow is not None:
            return list(run.follow)
        try:
            found = self.aws.find_waiting(self.settings.groups, self.settings.hook_name)
        except Exception as exc:  # a tick must log, not crash
            self._once(run, "describe", Outcome.ERROR, f"describe groups failed: {exc}")
            return None
        self._last_found = list(found)
        ids = {w.instance_id for w in found}
        self.heartbeats.prune(ids)
        self._reported_gone &= ids
        return found

    def _with_our_hook(self, run: _Run, found: list[Waiting], listed: frozenset[str] | None = None) -> list[Waiting]:
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
                self._once(run, f"hook:{group}", Outcome.ERROR, reason, group=group, hook=self.settings.hook_name)
                continue
            hook = self.hooks.lookup(group)
            if isinstance(hook, HookProblem):
                bad.add(group)
                self._once(run, f"hook:{group}", Outcome.ERROR, hook.reason, group=group, hook=self.settings.hook_name)
            elif isinstance(hook, Hook):
                max_hold = hook.max_hold(self.settings.max_hold_seconds)
                foreign = foreign_hook_problem(group, self.hooks.foreign(group), max_hold)
                if foreign is not None:
                    self._once(run, f"foreign-hooks:{group}", Outcome.ERROR, foreign, group=group, hook=hook.name)
        return [w for w in found if w.group not in bad]

    def _heartbeat_pass(self, run: _Run, waiting: list[Waiting]) -> None:
        pairs = [(w, self.hooks.heartbeat_every(w.group)) for w in waiting]
        for beat in self.heartbeats.run(pairs, run.hard):
            w = beat.waiting
            where = {"group": w.group, "instance": w.instance_id, "hook": w.hook}
            if beat.gone is not None and w.instance_id not in self._reported_gone:
                self._reported_gone.add(w.instance_id)
                known = run.known.get(w.instance_id, w)
                run.records.append(
                    self.recorder.decision(known, Outcome.GONE, f"lifecycle action gone: {beat.gone}", [])
                )
            elif beat.error is not None:
                self._once(run, f"heartbeat:{w.instance_id}", Outcome.ERROR, f"heartbeat failed: {beat.error}", **where)
        if self.heartbeats.unsent:  # the one thing that must never be cut short: alarm
            unsent = self.heartbeats.unsent
            reason = f"heartbeat pass cut short by the invocation deadline: {unsent} due heartbeat(s) not sent"
            self._once(run, "heartbeat-deadline", Outcome.ERROR, reason)

    def _with_details(self, run: _Run, live: list[Waiting]) -> list[Waiting]:
        """EC2 details (tags, private DNS) for instances first seen this invocation. When EC2 fails they are not
        judged in this invocation (they are heartbeated every round): one `error`, no retry until the next one."""
        new = [w.instance_id for w in live if w.instance_id not in run.known]
        if new and "ec2" not in run.reported and self.clock.now() < run.hard:  # failed: next invocation retries
            try:
                details = self.aws.describe_instances(new)
            except Exception as exc:
                reason = f"describe instances failed: {exc}; {len(new)} waiting instance(s) heartbeated, not judged"
                self._once(run, "ec2", Outcome.ERROR, reason)
            else:
                for w in live:
                    if w.instance_id in new:
                        run.known[w.instance_id] = dataclasses.replace(w, **details.get(w.instance_id, {}))
        self._with_identity(run, [run.known[w.instance_id] for w in live if w.instance_id in run.known])
        return [
            dataclasses.replace(run.known[w.instance_id], lifecycle_state=w.lifecycle_state)
            for w in live
            if w.instance_id in run.known
        ]

    def _with_identity(self, run: _Run, known: list[Waiting]) -> None:
        """The identity of each lifecycle action (its terminate activity, gate.domain.holdstate), looked up once per
        invocation; without one an instance is held untouched (no tags, no disables). One `error` per invocation."""
        wanted: dict[str, list[str]] = {}
        for w in known:
            if w.action_id is None and not w.leaves_warm_pool:
                wanted.setdefault(w.group, []).append(w.instance_id)
        if not wanted or self.clock.now() >= run.hard:
            return
        try:
            ids = self.aws.action_ids(wanted)
        except Exception as exc:
            self._once(run, "activities", Outcome.ERROR, f"describe scaling activities failed: {exc}; holding")
            return
        for iid, action_id in ids.items():
            if iid in run.known:
                run.known[iid] = dataclasses.replace(run.known[iid], action_id=action_id)

    def _judgment_pass(self, run: _Run, waiting: list[Waiting], observed: Observed) -> set[str]:
        """Judge every instance concurrently (bounded) by the deadline; returns the ids needing no further round."""

        def judge(w: Waiting) -> Judged:
            look = lambda: self.observe(waiting)  # noqa: E731  (the final look before a release: gate.service.evidence)
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
                actions = [describe(a) for a in decision.actions] if decision else []
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
                self._reported_gone.add(iid)  # ended here: a later `gone` would only repeat it
                self.heartbeats.ended(iid, f"{done.outcome} by this gate")
            elif run.leave_busy_to_tick and any(a.busy for a in j.agents):
                finished.add(iid)
        return finished

    def _next_wait(self, run: _Run) -> float:
        """The fixed re-check interval, or sooner when a decision falls due by time alone (the lag bound, an
        absence confirmation, the unregistered grace): release latency."""
        wait = self.settings.recheck_interval_seconds
        now = self.clock.now()
        for w in run.pending:
            due = run.recheck.get(w.instance_id, now + wait) - now
            if due > 0:
                wait = min(wait, max(due, 0.5))
        return wait

    # -- edges ------------------------------------------------------------------------------------------
    def observe(self, instances: Sequence[Waiting] = ()) -> Observed:
        """One agent list per pool for the whole round. A pool that fails is named in `failed_pools` and holds the
        instances that may have agents there (every instance unless GATE_GROUP_POOLS names its group's pools); only
        when every pool fails is the agent system unavailable.
        `instances`: the round's instances (a host name two of them answer to is ambiguous)."""
        try:
            listing = list_pools(self.source)
        except AgentSourceError as exc:
            return Observed(None, str(exc))
        listing, asked = audited(listing, self.source, self._seen(instances))
        if listing.failed and not listing.answered:
            return Observed(None, "; ".join(listing.failed.values()))
        index = self._index(listing.agents, instances)
        return Observed(
            index,
            asked=asked,
            failed_pools=dict(listing.failed),
            answered_pools=listing.answered,
            pool_names=dict(listing.names),
            group_pools={g: frozenset(ps) for g, ps in self.settings.group_pools.items()},
        )

    def _seen(self, instances: Sequence[Waiting]) -> frozenset[AgentKey]:
        """The agents the round's holds have seen (their tags, or this container's memory of them)."""
        now = self.clock.now()
        seen: set[AgentKey] = set()
        for w in instances:
            state = load(self.judgment.memory.recall(w.tags, w.action_id), w.action_id, now)
            if state is not None:
                seen |= state.seen
        return frozenset(seen)

    def _index(self, agents: Sequence[Agent], instances: Sequence[Waiting] = ()) -> AgentIndex:
        return AgentIndex(agents, self.settings.mapping, self.settings.capability_name, instances)

    def _report_observed(self, run: _Run, observed: Observed) -> None:
        """Failure isolation and ambiguity are loud: one `error` per failing pool per invocation, and one per
        ambiguous agent per container (it stays ambiguous until renamed; each hold it touches says so too)."""
        if observed.index is None and observed.error:  # no answer at all (its credential, sign-in, client set-up)
            self._once(run, "agent-system", Outcome.ERROR, f"agent system unavailable: {observed.error}; holding")
        for pool, error in observed.failed_pools.items():
            reason = (
                f"agent pool {pool} failing: {error}; instances that may have agents there are held (their other "
                "agents disabled): every instance unless GATE_GROUP_POOLS names its group's pools"
            )
            self._once(run, f"pool:{pool}", Outcome.ERROR, reason)
        for amb in observed.index.ambiguous if observed.index is not None else ():
            key = (amb.agent.source, amb.agent.pool_id, amb.agent.id, amb.agent.name)
            if key not in self._reported_ambiguous:
                self._reported_ambiguous.add(key)
                run.records.append(self.recorder.plain(Outcome.ERROR, f"ambiguous mapping: {amb.describe()}"))

    def _protect(self, observed: Observed) -> None:
        assert self.protector is not None
        if self.settings.dry_run:
            return
        try:
            index = observed.index if not observed.failed_pools else None  # a failing pool: change nothing
            self.protector.sync(index.agents_for if index is not None else None)
        except Exception as exc:  # protection is an optimisation: it must never stop the reconciler
            self.log.error("protection_failed", error=f"{type(exc).__name__}: {exc}")

    def _bound_calls(self, deadline: float | None) -> None:
        """Every outbound call's timeout is bounded by what is left of the invocation (None: unbounded again)."""
        self.aws.set_deadline(deadline, self.clock.now)
        set_deadline = getattr(self.source, "set_deadline", None)  # AgentSource.set_deadline (gate/adapters/azure.py)
        if callable(set_deadline):
            set_deadline(deadline)

    def _hook_lookup_failed(self, group: str, error: str) -> None:
        self.log.error("hook_lookup_failed", group=group, error=error)

    # -- filters and records ----------------------------------------------------------------------------
    def _once(self, run: _Run, key: str, outcome: Outcome, reason: str, **where: Any) -> None:
        if key not in run.reported:
            run.reported.add(key)
            run.records.append(self.recorder.plain(outcome, reason, **where))
