"""Pure pieces of the liveness path: the bounded pool, heartbeat timing, the hook's caps, execute after completion."""

from __future__ import annotations

from typing import Any

import pytest

from gate.adapters.aws import AwsError
from gate.domain.actions import Complete, SetTag
from gate.domain.clock import ManualClock
from gate.domain.decide import Decision
from gate.domain.model import Outcome, Waiting
from gate.service.execute import execute
from gate.service.heartbeats import Heartbeats
from gate.service.hooks import Hook
from gate.service.workers import Workers

pytestmark = pytest.mark.serverless  # no server: part of make test-fast

W = Waiting("g", "i-0123456789abcdef0", "hook")


def test_workers_return_in_input_order_and_stop_at_the_deadline() -> None:
    clock = ManualClock()
    pool = Workers(4, clock, "t")
    assert [r for _, r in pool.map(lambda x: x * 2, [3, 1, 2], clock.now() + 10)] == [6, 2, 4]
    inline = Workers(1, clock, "t")

    def slow(x: int) -> int:
        clock.advance(6)
        return x

    assert [r for _, r in inline.map(slow, [1, 2, 3], clock.now() + 10)] == [1, 2]  # the third would start late


class _Aws:
    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.done: list[str] = []

    def heartbeat(self, waiting: Waiting) -> None:
        self.done.append("heartbeat")

    def complete(self, waiting: Waiting, result: Any) -> None:
        self.done.append("complete")

    def tag(self, instance_id: str, key: str, value: str) -> None:
        if self.fail == "tag":
            raise AwsError("CreateTags: invocation deadline reached")
        self.done.append("tag")


def test_heartbeats_are_due_after_their_cadence_and_forgotten_when_no_longer_waiting() -> None:
    clock = ManualClock()
    beats = Heartbeats(_Aws(), clock, workers=2)  # type: ignore[arg-type]
    assert [b.sent for b in beats.run([(W, 100)], clock.now() + 10)] == [True]
    clock.advance(99)
    assert beats.run([(W, 100)], clock.now() + 10) == []  # not due yet
    clock.advance(1)
    assert len(beats.run([(W, 100)], clock.now() + 10)) == 1
    beats.prune(set())
    assert not beats.last_sent and not beats.last_tried


def test_the_max_hold_stays_below_the_global_timeout() -> None:
    assert Hook("g", "h", 60, global_timeout=6_000).max_hold(14_400) == 5_700
    assert Hook("g", "h", 3600, global_timeout=172_800).max_hold(14_400) == 14_400
    assert Hook("g", "h", 30, global_timeout=3_000).heartbeat_every == 10


def test_a_clean_up_failing_after_the_completion_keeps_the_outcome() -> None:
    aws = _Aws(fail="tag")
    decision = Decision(Outcome.RELEASED, "idle", (Complete("CONTINUE"), SetTag("gate:hold", "")))
    done = execute(decision, W, aws, None, dry_run=False)  # type: ignore[arg-type]
    assert done.outcome is Outcome.RELEASED and done.done and "CreateTags" in done.reason
    assert aws.done == ["complete"]
