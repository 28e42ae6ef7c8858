"""The gate's judgement, pure: one waiting instance plus what its agents look like now -> actions.

No I/O and no clock: every input is passed in, so the rules are tested exhaustively without servers.
The rules (docs/architecture.md, "Decision rules"), in order:
  leaving a warm pool -> release at once; max hold reached -> forced; Azure unreachable -> hold (fail safe);
  no agent -> hold until the unregistered grace, then release; any agent still enabled -> disable it and hold;
  any agent busy -> hold; all idle and drained -> hold until idle was seen twice `idle_confirm` apart, then
  (after a last look at the agents' job requests) release and delete the agent registrations.
With ECS draining on, every release except to or from a warm pool first sets the container instance DRAINING (only
now: DRAINING stops service tasks), holds one round, and with `ecs_wait_tasks` holds until no watched task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gate.actions import Action, Complete, DeleteAgent, DisableAgent, DrainContainerInstance, Heartbeat, Result, SetTag
from gate.model import HELD_SINCE_TAG, IDLE_SINCE_TAG, Agent, JobRequest, Outcome, Waiting, format_ts


@dataclass(frozen=True, slots=True)
class Policy:
    max_hold_seconds: float = 14_400
    idle_confirm_seconds: float = 15
    unregistered_grace_seconds: float = 300
    heartbeat_interval_seconds: float = 60
    delete_agent_on_release: bool = True
    forced_result: Result = "CONTINUE"
    check_job_requests: bool = True
    ecs_drain: bool = False
    ecs_wait_tasks: bool = False


@dataclass(frozen=True, slots=True)
class EcsFacts:
    """The instance's ECS container instance as ECS describes it, gathered at the edge only when a release is due."""

    container_instance_arn: str | None  # None: not registered in the cluster (nothing to drain)
    status: str | None = None  # ACTIVE, DRAINING, REGISTERING, DEREGISTERING, INACTIVE...
    tasks: int = 0  # tasks not yet STOPPED (STOPPING/DEACTIVATING count), except the ignored groups
    task_groups: tuple[str, ...] = ()  # their groups, for the reason text
    error: str | None = None  # ECS could not be asked: hold, fail safe


@dataclass(frozen=True, slots=True)
class Observation:
    """What the agent system said this round. `agents is None` means it could not be asked."""

    agents: Sequence[Agent] | None
    error: str | None = None
    # Job requests per agent id, fetched only when a release is about to happen (None = not fetched).
    job_requests: Mapping[int, Sequence[JobRequest]] | None = None
    # The ECS container instance, fetched only when a release is about to happen with ecs_drain (None = not fetched).
    ecs: EcsFacts | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    actions: tuple[Action, ...] = ()
    held_since: float | None = None
    idle_since: float | None = None
    # The decision would release, but wants the job requests of these agents looked at first.
    needs_job_requests: tuple[Agent, ...] = field(default=())
    # The decision would release, but ECS draining is on: it wants the container instance looked at first.
    needs_ecs: bool = False

    @property
    def final(self) -> bool:
        return any(isinstance(a, Complete) for a in self.actions)


def _busy_reason(agents: Sequence[Agent], job_requests: Mapping[int, Sequence[JobRequest]] | None) -> str | None:
    for agent in agents:
        if agent.busy:
            return f"agent {agent.label()} runs request {agent.assigned_request}"
        for job in (job_requests or {}).get(agent.id, ()):
            if not job.finished:
                return f"agent {agent.label()} has unfinished job request {job.request_id}"
    return None


def decide(
    waiting: Waiting,
    observation: Observation,
    policy: Policy,
    now: float,
    last_heartbeat: float | None = None,
) -> Decision:
    actions: list[Action] = []
    held_since = waiting.held_since
    if held_since is None:
        held_since = now
        actions.append(SetTag(HELD_SINCE_TAG, format_ts(now)))
    held = max(0.0, now - held_since)
    agents = observation.agents or ()

    def finish(outcome: Outcome, reason: str, result: Result, delete: bool) -> Decision:
        deletes = [DeleteAgent(a) for a in agents] if delete and policy.delete_agent_on_release else []
        if outcome is Outcome.RELEASED:
            # Delete first: a failed delete then holds and is retried (nothing left behind), and for systems
            # that cannot disable an agent (GitHub refuses to delete a runner with a job) it is the last guard.
            actions.extend(deletes)
            actions.append(Complete(result))
        else:
            actions.append(Complete(result))  # max hold: nothing may block the completion
            actions.extend(deletes)
        return Decision(outcome, reason, tuple(actions), held_since, None)

    def hold(reason: str, idle_since: float | None = None) -> Decision:
        if waiting.idle_since is not None and idle_since is None:
            actions.append(SetTag(IDLE_SINCE_TAG, ""))
        if last_heartbeat is None or now - last_heartbeat >= policy.heartbeat_interval_seconds:
            actions.append(Heartbeat())
        return Decision(Outcome.HELD, reason, tuple(actions), held_since, idle_since)

    def release(reason: str, delete: bool, idle_since: float | None) -> Decision:
        """Complete CONTINUE, after draining the ECS container instance when that is configured. Not for an
        instance going into a warm pool: it comes back, and a DRAINING container instance would stay DRAINING."""
        if policy.ecs_drain and not waiting.lifecycle_state.startswith("Warmed:"):
            ecs = observation.ecs
            if ecs is None:
                reason = f"{reason}; checking the ECS container instance"
                return Decision(Outcome.HELD, reason, tuple(actions), held_since, idle_since, needs_ecs=True)
            if ecs.error is not None:
                return hold(f"{reason}; ECS unavailable ({ecs.error}): holding, fail safe", idle_since)
            if ecs.container_instance_arn is not None:
                if ecs.status == "ACTIVE":
                    actions.append(DrainContainerInstance(ecs.container_instance_arn))
                    return hold(f"{reason}; setting the container instance DRAINING", idle_since)
                if policy.ecs_wait_tasks and ecs.tasks > 0:
                    groups = ", ".join(sorted(set(ecs.task_groups))) or "unknown"
                    return hold(
                        f"{reason}; container instance {ecs.status}, {ecs.tasks} task(s) still running ({groups})",
                        idle_since,
                    )
                reason = f"{reason}; container instance {ecs.status}"
        return finish(Outcome.RELEASED, reason, "CONTINUE", delete)

    if waiting.leaves_warm_pool:
        return finish(Outcome.RELEASED, "leaving the warm pool: a warmed instance runs no build", "CONTINUE", False)

    if held >= policy.max_hold_seconds:
        busy = _busy_reason(agents, observation.job_requests)
        state = f"; {busy}" if busy else ""
        # Keep new jobs off an instance we are giving up on, and keep a retained (ABANDON) agent registered.
        actions.extend(DisableAgent(a) for a in agents if not a.drained)
        return finish(
            Outcome.FORCED,
            f"max hold reached ({held:.0f}s >= {policy.max_hold_seconds:.0f}s){state}",
            policy.forced_result,
            policy.forced_result == "CONTINUE",
        )

    if observation.agents is None:
        return hold(f"agent system unavailable ({observation.error or 'unknown error'}): holding, fail safe")

    if not agents:
        if held >= policy.unregistered_grace_seconds:
            return release(
                f"no agent registered for the instance after {policy.unregistered_grace_seconds:.0f}s grace",
                False,
                None,
            )
        return hold(f"no agent found yet; grace {policy.unregistered_grace_seconds:.0f}s, held {held:.0f}s")

    enabled = [a for a in agents if not a.drained]
    if enabled:
        actions.extend(DisableAgent(a) for a in enabled)
        return hold("draining: disabled " + ", ".join(a.label() for a in enabled))

    busy = _busy_reason(agents, observation.job_requests)
    if busy:
        return hold(f"busy: {busy}")

    if waiting.idle_since is None or waiting.idle_since > now:
        actions.append(SetTag(IDLE_SINCE_TAG, format_ts(now)))
        return hold(f"idle and drained; confirming for {policy.idle_confirm_seconds:.0f}s", idle_since=now)
    idle_for = now - waiting.idle_since
    if idle_for < policy.idle_confirm_seconds:
        return hold(f"idle for {idle_for:.0f}s; confirming", idle_since=waiting.idle_since)
    checkable = tuple(a for a in agents if a.disableable)
    if policy.check_job_requests and checkable and observation.job_requests is None:
        return Decision(
            Outcome.HELD,
            "idle confirmed; checking job requests",
            tuple(actions),
            held_since,
            waiting.idle_since,
            needs_job_requests=checkable,
        )
    return release(f"idle confirmed over {idle_for:.0f}s", True, waiting.idle_since)
