"""Carry out a decision's actions in order, turning edge failures into outcomes (never exceptions)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gate.adapters.aws import ActionGone, Aws, AwsError
from gate.domain.actions import Action, Complete, ConfirmDisables, DeleteAgent, DisableAgent, Heartbeat, SetTag
from gate.domain.decide import Decision, acknowledgement
from gate.domain.holdstate import HOLD_TAG, HoldState, encode, fits
from gate.domain.model import Outcome, ServiceTime, Waiting
from gate.service.sources import AgentSource, AgentSourceError


@dataclass
class Executed:
    outcome: Outcome
    reason: str
    heartbeat_sent: bool = False
    done: bool = False  # the instance needs no further rounds (completed, gone)
    problems: list[str] = field(default_factory=list)
    tags: Mapping[str, str] | None = None  # the gate:* tags as written, when they differ from the decision's


def describe(action: Action) -> str:
    match action:
        case SetTag(key, value):
            return f"tag {key}={value or '(clear)'}"
        case DisableAgent(agent):
            return f"disable {agent.label()}"
        case ConfirmDisables():
            return f"tag {HOLD_TAG} with the disables' acknowledgement"
        case Heartbeat():
            return "heartbeat"
        case Complete(result):
            return f"complete {result}"
        case DeleteAgent(agent):
            return f"delete {agent.label()}"
    return repr(action)  # pragma: no cover


def execute(
    decision: Decision,
    waiting: Waiting,
    aws: Aws,
    source: AgentSource,
    dry_run: bool,
    now: Callable[[], float] = time.time,
) -> Executed:
    """`now`: the gate's clock (kept for callers; the disables' acknowledgement is the agent system's own time)."""
    if dry_run:
        planned = ", ".join(describe(a) for a in decision.actions) or "nothing"
        return Executed(Outcome.SKIPPED, f"dry run: would {planned} ({decision.outcome}: {decision.reason})", done=True)
    result = Executed(decision.outcome, decision.reason)
    completed = False
    acks: list[ServiceTime | None] = []  # when the agent system acknowledged each disable, on its clock
    tag_failed: str | None = None
    for action in decision.actions:
        try:
            match action:
                case SetTag(key, value):
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
                    _confirm(result, decision, waiting, aws, state, acks, max_skew)
                case Heartbeat():
                    aws.heartbeat(waiting)
                    result.heartbeat_sent = True
                case Complete(res):
                    aws.complete(waiting, res)
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
            )
        except AgentSourceError as exc:
            result.problems.append(f"{describe(action)} failed: {exc}")
            if isinstance(action, DisableAgent):
                # Not drained: the decision never completes in the same round as a disable, so we still hold.
                result.reason = f"{decision.reason}; {describe(action)} failed: {exc}"
            elif isinstance(action, DeleteAgent) and not completed:
                # Release deletes before it completes: hold, heartbeat, and try the whole release again next round.
                return _hold_instead(decision, waiting, aws, f"{describe(action)} failed: {exc}")
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
    aws: Aws,
    state: HoldState,
    acks: list[ServiceTime | None],
    max_skew: float,
) -> None:
    """Only when every disable went through (a failed one is in `problems`), and never an error: without the stamp
    the hold simply waits the lag bound. The stamp is the service's own time of the last acknowledgement (never the
    gate's clock); it is kept as the gate's memory (`result.tags`) even when the tag write fails."""
    if any(p.startswith("disable ") for p in result.problems):
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


def _hold_instead(decision: Decision, waiting: Waiting, aws: Aws, why: str) -> Executed:
    held = Executed(Outcome.HELD, f"{decision.reason}; {why}: holding to retry")
    try:
        aws.heartbeat(waiting)
        held.heartbeat_sent = True
    except ActionGone as exc:
        return Executed(Outcome.GONE, f"lifecycle action gone: {exc}", done=True)
    except AwsError as exc:
        held.reason += f"; heartbeat failed: {exc}"
    return held
