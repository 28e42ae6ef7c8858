"""The one executor: every path (the judgment pass, the retained clean-up, spot warnings) carries out a decision's
actions here, in order, turning edge failures into outcomes (never exceptions).

It consumes three ports, declared below by what it calls: the lifecycle edge (Auto Scaling and EC2), the agent
edge (what it asks of gate.service.sources.AgentSource) and, with ECS draining on, the container-instance edge.

A dry run is the same executor in plan mode: the ports are a `Plan`, which records each call it receives instead
of making it, so the plan a dry run prints is the order in which a real invocation would make those calls."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gate.domain.actions import (
    Action,
    Complete,
    ConfirmDisables,
    DeleteAgent,
    DisableAgent,
    DrainContainerInstance,
    Heartbeat,
    SetTag,
    Terminate,
)
from gate.domain.decide import Decision, acknowledgement
from gate.domain.errors import ActionGone, AwsError
from gate.domain.holdstate import HOLD_TAG, HoldState, decode, encode, fits
from gate.domain.model import RETAINED, Agent, Outcome, ServiceTime, Waiting
from gate.service.sources import AgentSourceError


class LifecycleEdge(Protocol):
    """What the executor asks of AWS. Errors: ActionGone (the lifecycle action is no longer ours), AwsError."""

    def heartbeat(self, waiting: Waiting) -> None: ...

    def complete(self, waiting: Waiting, result: Literal["CONTINUE", "ABANDON"]) -> None: ...

    def tag(self, instance_id: str, key: str, value: str) -> None: ...

    def terminate(self, instance_id: str) -> None: ...


class AgentEdge(Protocol):
    """What the executor asks of the agent source (gate.service.sources.AgentSource): its two writes."""

    def disable(self, agent: Agent) -> ServiceTime | None: ...

    def delete(self, agent: Agent) -> None: ...


class ContainerEdge(Protocol):
    """ECS: set a container instance DRAINING (gate.adapters.ecs)."""

    def drain(self, container_instance_arn: str) -> None: ...


# The last step of a plan: what the instance's hook is left in (a completion is already a step of its own).
_THEN = {Outcome.HELD: "hold", Outcome.RELEASED: "release", Outcome.FORCED: "end the hold (max hold reached)"}
PROOF_STEP = "heartbeat (proves the lifecycle action is the gate's; if AWS refuses it, nothing below happens)"


class Plan:
    """Every port of the executor at once, recording instead of calling: a dry run's lifecycle, agent and container
    edges. `steps`: each call, described as the record of a real run describes the action (`describe`)."""

    def __init__(self, before: Sequence[str] = ()) -> None:
        self.steps: list[str] = list(before)

    def heartbeat(self, waiting: Waiting) -> None:
        self.steps.append(describe(Heartbeat()))

    def complete(self, waiting: Waiting, result: Literal["CONTINUE", "ABANDON"]) -> None:
        self.steps.append(describe(Complete(result)))

    def tag(self, instance_id: str, key: str, value: str) -> None:
        self.steps.append(describe(SetTag(key, value)))

    def terminate(self, instance_id: str) -> None:
        self.steps.append(describe(Terminate()))

    def disable(self, agent: Agent) -> ServiceTime | None:
        self.steps.append(describe(DisableAgent(agent)))
        return None  # no acknowledgement: nothing was sent (the plan names the stamp itself, `_execute`)

    def delete(self, agent: Agent) -> None:
        self.steps.append(describe(DeleteAgent(agent)))

    def drain(self, container_instance_arn: str) -> None:
        self.steps.append(describe(DrainContainerInstance(container_instance_arn)))


@dataclass
class Executed:
    outcome: Outcome
    reason: str
    heartbeat_sent: bool = False
    done: bool = False  # the instance needs no further rounds (completed, gone)
    problems: list[str] = field(default_factory=list)
    tags: Mapping[str, str] | None = None  # the gate:* tags as written, when they differ from the decision's
    planned: list[str] | None = None  # a dry run: the calls a real run would make, in order (`Plan`)


def describe(action: Action) -> str:
    match action:
        case SetTag(key, value):
            return f"tag {key}={value or '(clear)'}"
        case DisableAgent(agent):
            return f"{agent.stop_verb} {agent.label()}"  # GitLab: pause
        case ConfirmDisables():
            return f"tag {HOLD_TAG} with the disables' acknowledgement"
        case Heartbeat():
            return "heartbeat"
        case Complete(result):
            return f"complete {result}"
        case DeleteAgent(agent):
            return f"delete {agent.label()}"
        case DrainContainerInstance(arn):
            return f"set container instance {arn} DRAINING"
        case Terminate():
            return "terminate the retained instance"
    return repr(action)  # pragma: no cover


def execute(
    decision: Decision,
    waiting: Waiting,
    aws: LifecycleEdge,
    source: AgentEdge,
    dry_run: bool,
    now: Callable[[], float] = time.time,
    *,
    ecs: ContainerEdge | None = None,
    before: Sequence[str] = (),
) -> Executed:
    """`now`: the gate's clock (kept for callers; the disables' acknowledgement is the agent system's own time).

    ECS drains go first (decide emits one only in a holding decision; a failure is a note, the next round retries).
    Terminate ends a retained instance; a hold it turns into is never heartbeated (no lifecycle action is left).

    `dry_run`: plan mode. Every port is a `Plan` and nothing is sent; the result is `skipped`, done, and says what a
    real run would do, in order: `before` (what this round already planned for the instance: the heartbeat pass's
    proof step), then the executor's own calls, then whether the hook is held or released."""
    if dry_run:
        plan = Plan(before)
        planned = _run(decision, waiting, plan, plan, plan, plan=plan)
        steps = plan.steps + _then(decision)
        would = ", ".join(steps) or "nothing"
        reason = f"dry run: would {would} ({decision.outcome}: {planned.reason})"
        return Executed(Outcome.SKIPPED, reason, done=True, planned=steps)
    return _run(decision, waiting, aws, source, ecs, now=now)


def _then(decision: Decision) -> list[str]:
    """The plan's last step: hold or release; a hold over a running build says so (the first round's reason is the
    disable, and a dry run never gets past its first round)."""
    if decision.outcome not in _THEN:
        return []
    busy = [a.agent for a in decision.actions if isinstance(a, DisableAgent) and a.agent.busy]
    if decision.outcome is Outcome.HELD and busy:
        return [f"hold (busy: agent {busy[0].label()} runs request {busy[0].assigned_request})"]
    return [_THEN[decision.outcome]]


def _run(
    decision: Decision,
    waiting: Waiting,
    aws: LifecycleEdge,
    source: AgentEdge,
    ecs: ContainerEdge | None,
    *,
    plan: Plan | None = None,
    now: Callable[[], float] = time.time,
) -> Executed:
    drains = [a for a in decision.actions if isinstance(a, DrainContainerInstance)]
    notes = [note for note in (_drain(ecs, d) for d in drains) if note]
    rest = [a for a in decision.actions if a not in drains]
    result = _execute(decision, waiting, aws, source, rest, plan, now)
    if notes:
        result.reason += "; " + "; ".join(notes)
    return result


def _drain(ecs: ContainerEdge | None, drain: DrainContainerInstance) -> str | None:
    try:
        if ecs is None:
            raise RuntimeError("no ECS client configured")
        ecs.drain(drain.container_instance_arn)
    except Exception as exc:  # still ACTIVE: the next round tries again
        return f"{describe(drain)} failed: {exc}"
    return None


def _execute(
    decision: Decision,
    waiting: Waiting,
    aws: LifecycleEdge,
    source: AgentEdge,
    actions: list[Action],
    plan: Plan | None = None,
    now: Callable[[], float] = time.time,
) -> Executed:
    result = Executed(decision.outcome, decision.reason)
    completed = False
    acks: list[ServiceTime | None] = []  # when the agent system acknowledged each disable, on its clock
    tag_failed: str | None = None
    # The gate:* tags as this decision has set them so far (written, or kept in memory after a failed write): what the
    # gate knows when the completion fails, e.g. the release it decided (`r=`), which the decision's own tags, already
    # cleared for after the completion, no longer hold.
    written = {k: v for k, v in waiting.tags.items() if v}
    for action in actions:
        try:
            match action:
                case SetTag(key, value):
                    if not completed:
                        written = {k: v for k, v in {**written, key: value}.items() if v}
                    try:
                        aws.tag(waiting.instance_id, key, value)
                    except ActionGone:
                        raise
                    except AwsError as exc:
                        if completed:
                            raise
                        # Tags are a cache of the gate's memory (gate.domain.holdstate.Memory): a failed write
                        # (CreateTags
                        # denied, throttled) blocks neither the disables that follow nor a release.
                        tag_failed = f"{describe(action)} failed: {exc} (kept in this container's memory)"
                        result.problems.append(tag_failed)
                case DisableAgent(agent):
                    acks.append(source.disable(agent))
                case ConfirmDisables(state, max_skew):
                    if plan is not None:  # stamped only from a real acknowledgement: the plan names the step
                        plan.steps.append(f"{describe(action)} (once the agent system acknowledges the disables)")
                    else:
                        settled = state.settled(now()) if state.pending else state
                        _confirm(result, decision, waiting, aws, settled, acks, max_skew)
                case Heartbeat():
                    aws.heartbeat(waiting)
                    result.heartbeat_sent = True
                case Complete(res):
                    aws.complete(waiting, res)
                    completed = result.done = True
                case Terminate():
                    aws.terminate(waiting.instance_id)
                    completed = result.done = True
                case DeleteAgent(agent):
                    source.delete(agent)
        except ActionGone as exc:
            # Someone else completed it, or it timed out: idempotent success. Stale agents may still go.
            result.outcome, result.reason, result.done = Outcome.GONE, f"lifecycle action gone: {exc}", True
            if not isinstance(action, Complete):
                return result
            completed = True
        except AwsError as exc:
            if completed:  # the hook is done: a clean-up after it (a tag) failing does not undo the outcome
                result.problems.append(f"{describe(action)} failed: {exc}")
                continue
            return Executed(
                Outcome.ERROR,
                f"{describe(action)} failed: {exc}",
                result.heartbeat_sent,
                done=completed,
                problems=result.problems,
                tags=written if decision.final and not completed else None,
            )
        except AgentSourceError as exc:
            result.problems.append(f"{describe(action)} failed: {exc}")
            if isinstance(action, DisableAgent):
                # Not drained: the decision never completes in the same round as a disable, so we still hold.
                result.reason = f"{decision.reason}; {describe(action)} failed: {exc}"
            elif isinstance(action, DeleteAgent) and not completed:
                # Release deletes before it completes: hold, heartbeat, and try the whole release again next round.
                held = _hold_instead(decision, waiting, aws, f"{describe(action)} failed: {exc}")
                held.tags = written
                return held
    if plan is None and not completed:
        _settle(result, decision, waiting, aws, now)
    if tag_failed is not None and result.outcome is Outcome.HELD:
        # Still an error record (alarmed: a hold whose memory lives in one container), with every action carried out.
        result.outcome = Outcome.ERROR
        result.reason = f"{tag_failed}; {result.reason}"
        return result
    if result.problems and result.outcome is not Outcome.HELD:
        result.reason += "; " + "; ".join(result.problems)
    return result


def _confirm(
    result: Executed,
    decision: Decision,
    waiting: Waiting,
    aws: LifecycleEdge,
    state: HoldState,
    acks: list[ServiceTime | None],
    max_skew: float,
) -> None:
    """Only when every disable went through (a failed one is in `problems`), and never an error: without the stamp
    the hold simply waits the lag bound. The stamp is the service's own time of the last acknowledgement (never the
    gate's clock); it is kept as the gate's memory (`result.tags`) even when the tag write fails."""
    if _a_disable_failed(result):
        return
    ack, why = acknowledgement(acks, max_skew)
    if ack is None:
        result.reason += f"; {why}"
        return
    stamped = dataclasses.replace(state, confirmed_at=ack)
    if not fits(stamped):
        return  # the stamp would push the agents out of the tag (overflow): the lag bound applies
    value = encode(stamped)
    result.tags = {**decision.tags, HOLD_TAG: value}
    try:
        aws.tag(waiting.instance_id, HOLD_TAG, value)
    except AwsError as exc:
        problem = f"tag {HOLD_TAG} with the disables' acknowledgement failed: {exc} (kept in this container's memory)"
        result.problems.append(problem)
        result.reason += f"; {problem}"


def _a_disable_failed(result: Executed) -> bool:
    """A disable (GitLab: pause) of this decision failed: the next round disables again and restarts the bound."""
    return any(p.startswith(("disable ", "pause ")) for p in result.problems)


def _settle(
    result: Executed, decision: Decision, waiting: Waiting, aws: LifecycleEdge, now: Callable[[], float]
) -> None:
    """The decision's disables have returned: the lag bound runs from now (the gate's clock), not from the decision,
    since a disable takes effect at the latest when its PATCH returns. Not after a failed disable (the next round
    disables again, restarting the bound) and never an error: a lost write leaves the hold pending, and the next
    look restarts the bound (gate.domain.decide)."""
    if _a_disable_failed(result):
        return
    tags = result.tags if result.tags is not None else decision.tags
    state = decode(tags.get(HOLD_TAG))
    if state is None or not state.pending:
        return
    value = encode(state.settled(now()))
    result.tags = {**tags, HOLD_TAG: value}
    try:
        aws.tag(waiting.instance_id, HOLD_TAG, value)
    except AwsError as exc:
        problem = f"tag {HOLD_TAG} with the disables' return failed: {exc} (kept in this container's memory)"
        result.problems.append(problem)


def _hold_instead(decision: Decision, waiting: Waiting, aws: LifecycleEdge, why: str) -> Executed:
    held = Executed(Outcome.HELD, f"{decision.reason}; {why}: holding to retry")
    if waiting.lifecycle_state == RETAINED:
        return held  # no lifecycle action to heartbeat: the next tick retries
    try:
        aws.heartbeat(waiting)
        held.heartbeat_sent = True
    except ActionGone as exc:
        return Executed(Outcome.GONE, f"lifecycle action gone: {exc}", done=True)
    except AwsError as exc:
        held.reason += f"; heartbeat failed: {exc}"
    return held
