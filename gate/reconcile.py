"""The gate's loop: observe agents once per pool, decide per waiting instance, act, re-check until the budget.

Both triggers use it: a lifecycle event runs it for one instance (fast path), the scheduled tick for every
waiting instance of every configured group (level-triggered: lost or duplicate events change nothing).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gate.actions import Action, DrainContainerInstance
from gate.aws import Aws, AwsError
from gate.clock import Clock, SystemClock
from gate.decide import Decision, EcsFacts, Observation, Policy, decide
from gate.events import TERMINATING, LifecycleEvent, SpotInterruptionEvent
from gate.execute import describe, execute
from gate.logs import DecisionLog, Record
from gate.mapping import AgentIndex
from gate.model import WAIT_STATES, Agent, JobRequest, Outcome, Waiting
from gate.settings import Settings
from gate.sources import AgentSource, AgentSourceError

if TYPE_CHECKING:
    from gate.ecs import Ecs
    from gate.notify import Notifier
    from gate.protection import Protector


ROUND_GRACE_SECONDS = 15.0


def policy_from(settings: Settings) -> Policy:
    return Policy(
        max_hold_seconds=settings.max_hold_seconds,
        idle_confirm_seconds=settings.idle_confirm_seconds,
        unregistered_grace_seconds=settings.unregistered_grace_seconds,
        heartbeat_interval_seconds=settings.heartbeat_interval_seconds,
        delete_agent_on_release=settings.delete_agent_on_release,
        forced_result=settings.forced_result,
        check_job_requests=settings.check_job_requests,
        ecs_drain=settings.ecs_drain,
        ecs_wait_tasks=settings.ecs_wait_tasks,
    )


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
        self.policy = policy_from(settings)
        self.region = region
        self.account = account
        self.last_heartbeat: dict[str, float] = {}
        self.ecs = ecs  # set the container instance DRAINING before release (settings.ecs_drain)
        self.protector = protector  # scale-in protection while busy (settings.protect_busy)
        self.notifier = notifier  # webhook for forced, error and long holds (settings.webhook_url)

    # -- triggers ---------------------------------------------------------------------------------------
    def tick(self, budget: float | None = None) -> list[Record]:
        """Reconcile every waiting instance of the configured groups."""
        try:
            waiting = self.aws.find_waiting(self.settings.groups, self.settings.hook_name)
        except Exception as exc:  # a tick must log, not crash
            return [self._record_plain(Outcome.ERROR, f"describe groups failed: {exc}")]
        observed = None
        if self.protector is not None:
            # The tick's own agent list serves protection and the first round: no extra call to the agent system.
            observed = self._observe()
            self._protect(observed)
        if not waiting:
            return []
        return self.run(waiting, self.settings.tick_budget_seconds if budget is None else budget, observed)

    def _protect(self, observed: tuple[AgentIndex | None, str | None]) -> None:
        assert self.protector is not None
        if self.settings.dry_run:
            return
        try:
            index = observed[0]
            self.protector.sync(index.agents_for if index is not None else None)
        except Exception as exc:  # protection is an optimisation: it must never stop the reconciler
            self.log.error("protection_failed", error=f"{type(exc).__name__}: {exc}")

    def on_lifecycle(self, event: LifecycleEvent, budget: float | None = None) -> list[Record]:
        d = event.detail
        reason = self._foreign(event.region, event.account, d.group, d.hook)
        if reason is None and d.transition != TERMINATING:
            reason = f"transition {d.transition} is not a termination"
        if reason:
            return [self._record_plain(Outcome.SKIPPED, reason, group=d.group, instance=d.instance_id, hook=d.hook)]
        where = {"group": d.group, "instance": d.instance_id, "hook": d.hook}
        try:
            # A forged, stale or duplicate event must not disable anyone's agents: check the instance really
            # waits in that group (the token itself is checked by AWS on heartbeat/complete).
            group, state = self.aws.instance_state(d.instance_id)
            details = self.aws.describe_instances([d.instance_id]).get(d.instance_id, {})
        except AwsError as exc:
            return [self._record_plain(Outcome.ERROR, f"cannot verify the instance ({exc}); the tick retries", **where)]
        if group != d.group or state not in WAIT_STATES:
            found = f"in {group}, {state}" if group else "in no group"
            return [self._record_plain(Outcome.SKIPPED, f"instance is not waiting in {d.group} ({found})", **where)]
        if d.leaves_warm_pool:
            state = "Warmed:Terminating:Wait"
        waiting = Waiting(d.group, d.instance_id, d.hook, state, d.lifecycle_action_token, **details)
        budget = self.settings.tick_budget_seconds if budget is None else budget
        return self.run([waiting], budget, leave_busy_to_tick=True)

    def on_spot(self, event: SpotInterruptionEvent) -> list[Record]:
        """Two minutes' warning, no hook can delay it: keep new jobs off the instance at once."""
        iid = event.detail.instance_id
        elsewhere = self._elsewhere(event.region, event.account)
        if elsewhere:
            return [self._record_plain(Outcome.SKIPPED, elsewhere, instance=iid)]
        try:
            group, _ = self.aws.instance_state(iid)
            details = self.aws.describe_instances([iid]).get(iid, {})
        except Exception as exc:  # a spot warning must log, not crash
            return [self._record_plain(Outcome.ERROR, f"spot: describe failed: {exc}", instance=iid)]
        if group is None or group not in self.settings.groups:
            return [self._record_plain(Outcome.SKIPPED, "spot: instance not in a configured group", instance=iid)]
        waiting = Waiting(group, iid, self.settings.hook_name, private_dns=details.get("private_dns"))
        try:
            agents = self._index(self.source.list_agents()).agents_for(waiting)
            todo = [a for a in agents if not a.drained]
            if not self.settings.dry_run:
                for agent in todo:
                    self.source.disable(agent)
        except AgentSourceError as exc:
            return [self._record(waiting, Outcome.ERROR, f"spot: disable failed: {exc}", [])]
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
        reason = f"spot interruption ({event.detail.instance_action}): " + ", ".join(parts)
        return [self._record(waiting, Outcome.SPOT, reason, agents)]

    # -- read-only views (the CLI's check and status) ------------------------------------------------------
    def explain(self, instance_id: str) -> tuple[Waiting, list[Agent], Decision, str | None]:
        """What the gate would decide for this instance right now; acts on nothing."""
        group, state = self.aws.instance_state(instance_id)
        group, state = group or "(no group)", state or "(not in a group)"
        details = self.aws.describe_instances([instance_id]).get(instance_id, {})
        waiting = Waiting(group, instance_id, self.settings.hook_name, state, **details)
        index, error = self._observe()
        agents = index.agents_for(waiting) if index else []
        return waiting, agents, self._decide(waiting, (index, error), self.clock.now()), error

    def status(self) -> tuple[list[dict[str, Any]], str | None]:
        """Every instance of the configured groups with its state, protection and agents."""
        index, error = self._observe()
        rows: list[dict[str, Any]] = []
        paginator = self.aws.autoscaling.get_paginator("describe_auto_scaling_groups")
        for page in paginator.paginate(AutoScalingGroupNames=list(self.settings.groups)):
            for group in page["AutoScalingGroups"]:
                instances = group.get("Instances", [])
                details = self.aws.describe_instances(i["InstanceId"] for i in instances)
                for inst in instances:
                    iid = inst["InstanceId"]
                    w = Waiting(
                        group["AutoScalingGroupName"],
                        iid,
                        self.settings.hook_name,
                        inst["LifecycleState"],
                        **details.get(iid, {}),
                    )
                    rows.append(
                        {
                            "group": w.group,
                            "instance": iid,
                            "state": w.lifecycle_state,
                            "protected": bool(inst.get("ProtectedFromScaleIn")),
                            "agents": index.agents_for(w) if index else None,
                            "held_since": w.held_since,
                        }
                    )
        return rows, error

    # -- the loop ---------------------------------------------------------------------------------------
    def run(
        self,
        waiting: Sequence[Waiting],
        budget: float,
        observed: tuple[AgentIndex | None, str | None] | None = None,
        *,
        leave_busy_to_tick: bool = False,
    ) -> list[Record]:
        """`observed`: the first round's agent list when the caller already fetched it (the tick).

        `leave_busy_to_tick` (the event fast path): stop following an instance once a build is seen running on it.
        The tick re-checks every waiting instance with one agent list per pool, so a scale-in of fifty busy
        instances costs one list per round, not fifty concurrent pollers eating the Azure DevOps rate limit.
        """
        records: list[Record] = []
        pending = {w.instance_id: w for w in waiting}
        last_reason: dict[str, str] = {}
        deadline = self.clock.now() + budget
        # A round may overrun the budget, never this: the Lambda timeout is budget + 20 s (Terraform: 70 s for 50).
        hard_deadline = deadline + ROUND_GRACE_SECONDS
        first = observed
        while pending:
            observed, first = (first if first is not None else self._observe()), None
            order = list(pending.items())
            random.shuffle(order)  # when time runs out mid-round, a different tail waits each time
            for iid, w in order:
                now = self.clock.now()
                if now > hard_deadline:
                    self.log.info("round_cut_short", reason="invocation deadline", left=len(pending))
                    return records
                try:
                    decision = self._decide(w, observed, now)
                    decision, core, notes = self._edge_actions(decision)
                    done = execute(core, w, self.aws, self.source, self.settings.dry_run)
                except Exception as exc:  # one instance's surprise must not starve the others of heartbeats
                    reason = f"unexpected {type(exc).__name__}: {exc}"
                    records.append(self._record_plain(Outcome.ERROR, reason, group=w.group, instance=iid, hook=w.hook))
                    continue
                if notes:
                    done.reason += "; " + "; ".join(notes)
                if done.heartbeat_sent:
                    self.last_heartbeat[iid] = now
                pending[iid] = dataclasses.replace(w, held_since=decision.held_since, idle_since=decision.idle_since)
                agents = observed[0] if isinstance(observed[0], AgentIndex) else None
                if done.done or (leave_busy_to_tick and agents and any(a.busy for a in agents.agents_for(w))):
                    del pending[iid]
                    self.last_heartbeat.pop(iid, None)
                if done.outcome is not Outcome.HELD or decision.actions or last_reason.get(iid) != done.reason:
                    found = agents.agents_for(w) if agents else []
                    records.append(self._record(w, done.outcome, done.reason, found, decision, now))
                last_reason[iid] = done.reason
            wait = self._next_wait(pending.values())
            if not pending or self.clock.now() + wait > deadline:
                break
            self.clock.sleep(wait)
        return records

    def _edge_actions(self, decision: Decision) -> tuple[Decision, Decision, list[str]]:
        """What `gate.execute` does not do itself. Returns (the decision as carried out, for the record; what is left
        for execute; notes for the reason).

        * DrainContainerInstance (ECS): decide emits it only in a holding decision, so doing it first keeps the
          order the rules ask for.
        """
        left, notes = decision, list[str]()
        drains = [a for a in left.actions if isinstance(a, DrainContainerInstance)]
        if not drains:
            return decision, left, notes
        rest = dataclasses.replace(
            left, actions=tuple(a for a in left.actions if not isinstance(a, DrainContainerInstance))
        )
        for drain in drains:
            if self.settings.dry_run:
                notes.append(f"would {_describe(drain)}")
                continue
            try:
                if self.ecs is None:
                    raise RuntimeError("no ECS client configured")
                self.ecs.drain(drain.container_instance_arn)
            except Exception as exc:  # still ACTIVE: the next round tries again
                notes.append(f"{_describe(drain)} failed: {exc}")
        return decision, rest, notes

    def _next_wait(self, pending: Iterable[Waiting]) -> float:
        """The fixed re-check interval, or sooner when an idle confirmation falls due (release latency)."""
        wait = self.settings.recheck_interval_seconds
        now = self.clock.now()
        for w in pending:
            if w.idle_since is not None:
                due = w.idle_since + self.settings.idle_confirm_seconds - now
                if due > 0:  # already confirmed but still held (ECS tasks): the normal interval, not a busy loop
                    wait = min(wait, max(due, 0.5))
        return wait

    def _observe(self) -> tuple[AgentIndex | None, str | None]:
        try:
            agents = self.source.list_agents()
        except AgentSourceError as exc:
            return None, str(exc)
        return self._index(agents), None

    def _index(self, agents: Sequence[Agent]) -> AgentIndex:
        return AgentIndex(agents, self.settings.mapping, self.settings.capability_name)

    def _decide(self, w: Waiting, observed: tuple[AgentIndex | None, str | None], now: float) -> Decision:
        index, error = observed
        obs = Observation(agents=None, error=error) if index is None else Observation(agents=index.agents_for(w))
        decision = decide(w, obs, self.policy, now, self.last_heartbeat.get(w.instance_id))
        if decision.needs_job_requests:
            jobs: dict[int, list[JobRequest]] = {}
            try:
                for agent in decision.needs_job_requests:
                    jobs[agent.id] = self.source.job_requests(agent)
                obs = dataclasses.replace(obs, job_requests=jobs)
            except AgentSourceError as exc:
                obs = Observation(agents=None, error=f"job requests: {exc}")
            decision = decide(w, obs, self.policy, now, self.last_heartbeat.get(w.instance_id))
        if decision.needs_ecs:
            if self.ecs is not None:
                facts = self.ecs.facts(w.instance_id)
            else:
                facts = EcsFacts(container_instance_arn=None, error="GATE_ECS_DRAIN is on but no ECS client is set up")
            obs = dataclasses.replace(obs, ecs=facts)
            decision = decide(w, obs, self.policy, now, self.last_heartbeat.get(w.instance_id))
        return decision

    # -- filters and records ----------------------------------------------------------------------------
    def _elsewhere(self, region: str, account: str) -> str | None:
        """An event from another region or account is not ours, whatever it names."""
        if self.region and region and region != self.region:
            return f"event from region {region}, gate runs in {self.region}"
        if self.account and account and account != self.account:
            return f"event from account {account}, gate runs in {self.account}"
        return None

    def _foreign(self, region: str, account: str, group: str, hook: str) -> str | None:
        elsewhere = self._elsewhere(region, account)
        if elsewhere:
            return elsewhere
        if group not in self.settings.groups:
            return f"group {group} is not in the allow-list"
        if hook != self.settings.hook_name:
            return f"hook {hook} is not the gate's hook {self.settings.hook_name}"
        return None

    def _record(
        self,
        w: Waiting,
        outcome: Outcome,
        reason: str,
        agents: Sequence[Agent],
        decision: Decision | None = None,
        now: float | None = None,
    ) -> Record:
        now = self.clock.now() if now is None else now
        held_since = decision.held_since if decision else w.held_since
        record: Record = {
            "outcome": str(outcome),
            "reason": reason,
            "group": w.group,
            "instance": w.instance_id,
            "hook": w.hook,
            "agents": [
                {"pool": a.pool, "id": a.id, "name": a.name, "enabled": a.enabled, "busy": a.busy} for a in agents
            ],
            "held_seconds": round(now - held_since, 3) if held_since is not None else None,
        }
        if decision and decision.actions:
            record["actions"] = [_describe(a) for a in decision.actions]
        self.log.decision(record, now)
        if self.notifier is not None:
            self.notifier.on_record(record, held_since)
        return record

    def _record_plain(self, outcome: Outcome, reason: str, **where: Any) -> Record:
        record: Record = {
            "outcome": str(outcome),
            "reason": reason,
            "group": where.get("group"),
            "instance": where.get("instance"),
            "hook": where.get("hook"),
            "agents": [],
            "held_seconds": None,
        }
        self.log.decision(record, self.clock.now())
        if self.notifier is not None:
            self.notifier.on_record(record)
        return record


def _describe(action: Action) -> str:
    if isinstance(action, DrainContainerInstance):
        return f"set container instance {action.container_instance_arn} DRAINING"
    return describe(action)
