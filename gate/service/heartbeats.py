"""The heartbeat pass: the one call that keeps a build alive, sent first in every round and needing only Auto Scaling.

A heartbeat by instance id under our hook name needs no token, no EC2 and no Azure DevOps, so nothing those do
(slow, throttled, paginating forever) can delay it. It is due when a third of the hook's HeartbeatTimeout has
passed since this container's last one; a cold container heartbeats everything waiting at once, and concurrent
invocations may both send one, which AWS treats as one more restart of the same timer (harmless).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gate.domain.clock import Clock
from gate.domain.errors import ActionGone, AwsError
from gate.domain.model import Waiting
from gate.service.workers import Workers


class HeartbeatEdge(Protocol):
    """What the heartbeat pass asks of Auto Scaling: nothing else. Errors: ActionGone (not ours, or ended), AwsError."""

    def heartbeat(self, waiting: Waiting) -> None: ...


@dataclass(frozen=True, slots=True)
class Beat:
    """What one heartbeat attempt found: sent, the action is gone (not ours, or ended), or an error."""

    waiting: Waiting
    sent: bool = False
    gone: str | None = None
    error: str | None = None


class Heartbeats:
    def __init__(self, aws: HeartbeatEdge, clock: Clock, workers: int = 16, *, plan: bool = False) -> None:
        self.aws = aws
        # A dry run (GATE_DRY_RUN, `gate check`, `gate replay`): a due heartbeat is planned, not sent, and counts as
        # sent, so the judgment that follows is the one a real round would make after its proof step. `planned`: the
        # instances whose heartbeat this round planned (taken by the plan of their judgment: `take_planned`).
        self.plan = plan
        self.planned: set[str] = set()
        self.clock = clock
        self.workers = Workers(workers, clock, "heartbeat")
        self.last_sent: dict[str, float] = {}  # instance id -> when this container's last heartbeat succeeded
        self.gone: dict[str, str] = {}  # instance id -> why AWS says our action on it is not active
        self.last_tried: dict[str, float] = {}  # instance id -> the last attempt, whatever came of it
        self.failing: set[str] = set()  # the last attempt failed (throttled, unreachable): retried next round
        # instance id -> the `held` reason last proven by a heartbeat sent after its decision (gate.service.judgment)
        self.proven_reason: dict[str, str] = {}
        self.unsent = 0  # heartbeats the last pass had due but could not send before its deadline
        # The last pass's failed (throttled, unreachable: not gone) and unsent heartbeats, and when it started: the
        # round's second chance (`second_chance`) sends them once more after judgment.
        self.missed: list[Waiting] = []
        self.pass_started = 0.0

    def due(self, waiting: Waiting, every: float, now: float) -> bool:
        last = self.last_sent.get(waiting.instance_id)
        return last is None or now - last >= every

    def run(self, waiting: Sequence[tuple[Waiting, float]], deadline: float) -> list[Beat]:
        """Heartbeat every instance whose heartbeat is due ((instance, cadence) pairs), concurrently, by the deadline.
        Instances not due are left alone; the result lists only the attempts made."""
        now = self.clock.now()
        due = [w for w, every in waiting if self.due(w, every, now)]
        beats = [beat for _, beat in self.workers.map(self.beat, due, deadline)]
        self.unsent = len(due) - len(beats)  # due but not sent by the deadline: the caller alarms
        tried = {b.waiting.instance_id for b in beats}
        self.missed = [b.waiting for b in beats if b.error is not None] + [w for w in due if w.instance_id not in tried]
        self.pass_started = now
        return beats

    def second_chance(self, deadline: float) -> list[Beat]:
        """The last pass's failed and unsent heartbeats once more, by the deadline (once: `missed` is emptied).
        Throttling fails about a third of calls; a failed heartbeat left to the next round (or the next tick, when
        the invocation ends) could miss three times in a row and time a busy instance's hook out. Skipped: an
        action gone or ended since, a heartbeat sent since (the judgment's proof), and one still running (hung)."""
        missed, self.missed = self.missed, []
        retry = [
            w
            for w in missed
            if w.instance_id not in self.gone
            and self.last_sent.get(w.instance_id, float("-inf")) < self.pass_started
            and (w.instance_id in self.failing or self.last_tried.get(w.instance_id, float("-inf")) < self.pass_started)
        ]
        if not retry or self.clock.now() >= deadline:
            return []
        return [beat for _, beat in self.workers.map(self.beat, retry, deadline)]

    def beat(self, waiting: Waiting) -> Beat:
        """One heartbeat, by instance id under our hook (never an event's token); never raises."""
        iid = waiting.instance_id
        self.last_tried[iid] = self.clock.now()
        try:
            if self.plan:
                self.planned.add(iid)
            else:
                self.aws.heartbeat(waiting)
        except ActionGone as exc:
            self.gone[iid] = str(exc)
            self.last_sent[iid] = self.clock.now()  # re-probed at the normal cadence, not every round
            self.failing.discard(iid)
            return Beat(waiting, gone=str(exc))
        except AwsError as exc:
            self.failing.add(iid)
            return Beat(waiting, error=str(exc))
        except Exception as exc:  # a surprise for one instance must not stop the others
            self.failing.add(iid)
            return Beat(waiting, error=f"unexpected {type(exc).__name__}: {exc}")
        self.last_sent[iid] = self.clock.now()
        self.gone.pop(iid, None)
        self.failing.discard(iid)
        return Beat(waiting, sent=True)

    def take_planned(self, instance_id: str) -> bool:
        """Whether this round planned the instance's heartbeat (a dry run), once."""
        if instance_id in self.planned:
            self.planned.discard(instance_id)
            return True
        return False

    def ended(self, instance_id: str, why: str) -> None:
        """The gate completed the action itself: no more heartbeats (re-probed at the cadence should AWS still list
        the instance as waiting, e.g. on another hook)."""
        self.gone[instance_id] = why
        self.last_sent[instance_id] = self.clock.now()

    def prune(self, waiting: set[str]) -> None:
        """Forget instances no longer waiting (a warm container lives for hours)."""
        for memory in (self.last_sent, self.gone, self.last_tried, self.proven_reason):
            for iid in [i for i in memory if i not in waiting]:
                del memory[iid]
        self.failing &= waiting
        self.planned &= waiting
