"""Carry out a decision's actions in order, turning edge failures into outcomes (never exceptions)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gate.actions import Action, Complete, ConfirmDisables, DeleteAgent, DisableAgent, Heartbeat, SetTag
from gate.aws import ActionGone, Aws, AwsError
from gate.decide import Decision
from gate.holdstate import HOLD_TAG, encode
from gate.model import Outcome, Waiting
from gate.sources import AgentSource, AgentSourceError


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
    """`now`: the gate's clock, read when the disables are acknowledged (ConfirmDisables)."""
    if dry_run:
        planned = ", ".join(describe(a) for a in decision.actions) or "nothing"
        return Executed(Outcome.SKIPPED, f"dry run: would {planned} ({decision.outcome}: {decision.reason})", done=True)
    result = Executed(decision.outcome, decision.reason)
    completed = False
    for action in decision.actions:
        try:
            match action:
                case SetTag(key, value):
                    aws.tag(waiting.instance_id, key, value)
                case DisableAgent(agent):
                    source.disable(agent)
                case ConfirmDisables(state):
                    _confirm(result, decision, waiting, aws, encode(dataclasses.replace(state, confirmed_at=now())))
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
    if result.problems and result.outcome is not Outcome.HELD:
        result.reason += "; " + "; ".join(result.problems)
    return result


def _confirm(result: Executed, decision: Decision, waiting: Waiting, aws: Aws, value: str) -> None:
    """Only when every disable went through (a failed one is in `problems`), and never an error: without the
    stamp the hold simply waits the lag bound."""
    if result.problems:
        return
    try:
        aws.tag(waiting.instance_id, HOLD_TAG, value)
    except AwsError as exc:
        problem = f"tag {HOLD_TAG} with the disables' acknowledgement failed: {exc} (the lag bound applies)"
        result.problems.append(problem)
        result.reason += f"; {problem}"
        return
    result.tags = {**decision.tags, HOLD_TAG: value}


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
