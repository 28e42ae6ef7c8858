"""The gate's triggers: `tick` (every configured group, then the retained clean-up), `on_lifecycle` (one instance, the
fast path) and `on_spot` (two minutes' warning). Each turns its trigger into a scope and hands it to the round loop
(gate.service.rounds); nothing here judges or acts on its own. `Gate` also wires the service layer together."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from gate.adapters.logs import DecisionLog, Record
from gate.domain.actions import DisableAgent
from gate.domain.clock import Clock, SystemClock
from gate.domain.decide import Decision, Policy
from gate.domain.events import LifecycleEvent, Scope, SpotInterruptionEvent
from gate.domain.model import WAIT_STATES, Outcome, Waiting
from gate.service.execute import execute
from gate.service.heartbeats import Heartbeats
from gate.service.hooks import Hook, Hooks
from gate.service.judgment import Judgment, RoundAgents
from gate.service.passes import Passes, RoundEdge
from gate.service.records import Recorder
from gate.service.rounds import Rounds
from gate.service.sources import AgentSource, AgentSourceError, list_pools
from gate.settings import Settings

if TYPE_CHECKING:
    from gate.adapters.ecs import Ecs
    from gate.adapters.notify import Notifier
    from gate.service.protection import Protector


def policy_from(settings: Settings) -> Policy:
    """The decision policy: every field of `Policy` that is also a setting comes from the settings (whose defaults
    are Policy's own, gate/settings.py); the others (clock_skew_seconds) keep Policy's default."""
    names = [f.name for f in dataclasses.fields(Policy) if f.name in Settings.model_fields]
    return Policy(**{name: getattr(settings, name) for name in names})


class GateEdge(RoundEdge, Protocol):
    """What the gate asks of Auto Scaling and EC2: a round's calls, and the event path's check that the instance
    really waits (DescribeAutoScalingInstances). Errors: ActionGone, AwsError."""

    def instance_state(self, instance_id: str) -> tuple[str | None, str | None]: ...


class Gate:
    def __init__(
        self,
        settings: Settings,
        aws: GateEdge,
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
        self.ecs = ecs  # set the container instance DRAINING before release (settings.ecs_drain)
        self.protector = protector  # scale-in protection while busy (settings.protect_busy)
        self.notifier = notifier  # webhook for forced, error and long holds (settings.webhook_url)
        self.recorder = Recorder(self.log, self.clock, notifier)
        self.policy = policy_from(settings)
        self.hooks = Hooks(aws, settings.hook_name, self.clock.now, self._hook_lookup_failed)
        self.heartbeats = Heartbeats(aws, self.clock, settings.heartbeat_concurrency, plan=settings.dry_run)
        self.judgment = Judgment(aws, source, self.heartbeats, self.policy_for, dry_run=settings.dry_run, ecs=ecs)
        self.passes = Passes(
            settings,
            aws,
            source,
            self.clock,
            self.log,
            self.recorder,
            self.hooks,
            self.heartbeats,
            self.judgment,
            protector,
        )
        self.rounds = Rounds(self.passes)

    @property
    def scope(self) -> Scope:
        """What is this gate's (its region and account as known now: the handler learns the account from its ARN)."""
        return Scope(tuple(self.settings.groups), self.settings.hook_name, self.region, self.account)

    def observe(self, instances: Sequence[Waiting] = ()) -> RoundAgents:
        """One agent list per pool, audited (gate.service.passes.Passes.observe): the views and the clean-up use it."""
        return self.passes.observe(instances)

    def _hook_lookup_failed(self, group: str, error: str) -> None:
        self.log.error("hook_lookup_failed", group=group, error=error)

    def policy_for(self, group: str) -> Policy:
        """The settings' policy, with the max hold (every priority tier's too) capped below the hook's global timeout
        and its cadence."""
        hook = self.hooks.lookup(group)
        if not isinstance(hook, Hook):
            return self.policy
        return dataclasses.replace(
            self.policy,
            max_hold_seconds=hook.max_hold(self.settings.max_hold_seconds),
            heartbeat_interval_seconds=hook.heartbeat_every,
            tiers=tuple(
                dataclasses.replace(t, max_hold_seconds=hook.max_hold(t.max_hold_seconds)) for t in self.policy.tiers
            ),
        )

    # -- triggers ---------------------------------------------------------------------------------------
    def tick(self, budget: float | None = None, *, deadline: float | None = None) -> list[Record]:
        """Reconcile every waiting instance of the configured groups, then the retained and back-in-service ones."""
        run = self.rounds.run(None, budget, deadline=deadline)
        records = run.records + self._clean_up(deadline, run.failsafe)
        self.log.failsafe_holds(run.failsafe, self.clock.now())
        return records

    def _clean_up(self, deadline: float | None, failsafe: dict[str, str] | None = None) -> list[Record]:
        """Retained instances (delete agents, terminate once idle) and hold tags on in-service instances
        (gate/service/retained.py). After the round, so it never delays a heartbeat; a failure is one `error` record."""
        from gate.service.retained import RetainedCleanup

        if deadline is not None and self.clock.now() >= deadline:
            return []
        cleanup = RetainedCleanup(  # a dry run plans (gate.service.execute's plan mode) and writes nothing
            self.aws,
            self.source,
            self.settings.groups,
            self.settings.hook_name,
            self.policy_for,
            dry_run=self.settings.dry_run,
            ecs=self.ecs,
        )
        self.passes.bound_calls(deadline)
        try:
            cleaned = cleanup.run(self.observe, self.clock.now(), look=self.passes.final_look)
        except Exception as exc:  # a tick must log, not crash
            return [self.recorder.plain(Outcome.ERROR, f"retained clean-up failed: {type(exc).__name__}: {exc}")]
        finally:
            self.passes.bound_calls(None)
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
            # waits in that group.
            group, state = self.aws.instance_state(d.instance_id)
        except Exception as exc:  # AwsError, or the deadline: the tick retries
            return [
                self.recorder.plain(Outcome.ERROR, f"cannot verify the instance ({exc}); the tick retries", **where)
            ]
        if group != d.group or state not in WAIT_STATES:
            found = f"in {group}, {state}" if group else "in no group"
            return [self.recorder.plain(Outcome.SKIPPED, f"instance is not waiting in {d.group} ({found})", **where)]
        # The event is a trigger, never evidence: not even its token is used. A token names *an* action, not the
        # instance the event names (another instance's token completed that instance, busy, on this one's judgment),
        # and a token AWS refuses (forged, stale) is not Auto Scaling saying that this instance's action is gone.
        # Heartbeats and the completion go by instance id under the gate's hook: Auto Scaling's record decides.
        waiting = Waiting(d.group, d.instance_id, self.settings.hook_name, state)
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
        agents = self.passes.index(listing.agents).agents_for(waiting)
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
        heartbeats: bool = True,
    ) -> list[Record]:
        """Rounds until nothing of ours waits, or the budget. `waiting`: follow these instances (the event path);
        None re-reads the groups each round. `deadline` (the Lambda context's, on this clock) caps the budget.

        `leave_busy_to_tick` (the event fast path): stop following an instance once a build is seen running on it;
        the tick re-checks every waiting instance with one agent list per pool.

        `heartbeats=False` (the service hook's re-check round): no heartbeat pass; the tick keeps the hooks alive.

        Ends with the invocation's FailsafeHolds line when an error keeps an instance waiting (gate.adapters.logs).
        """
        run = self.rounds.run(
            waiting, budget, leave_busy_to_tick=leave_busy_to_tick, deadline=deadline, heartbeats=heartbeats
        )
        self.log.failsafe_holds(run.failsafe, self.clock.now())
        return run.records

    # -- edges ------------------------------------------------------------------------------------------
    # -- filters and records ----------------------------------------------------------------------------
