"""Heartbeats.second_chance: what the pass failed or could not send goes out once more; nothing else does."""

from __future__ import annotations

from gate.domain.clock import ManualClock
from gate.domain.errors import ActionGone, AwsError
from gate.domain.model import Waiting
from gate.service.heartbeats import Heartbeats


class Edge:
    """Answers each instance's heartbeats from a script (then succeeds); `slow` advances the clock per call."""

    def __init__(self, clock: ManualClock, script: dict[str, list[Exception]], slow: float = 0.0) -> None:
        self.clock = clock
        self.script = script
        self.slow = slow
        self.sent: list[str] = []

    def heartbeat(self, waiting: Waiting) -> None:
        self.clock.advance(self.slow)
        self.sent.append(waiting.instance_id)
        answers = self.script.get(waiting.instance_id)
        if answers:
            raise answers.pop(0)


def _w(iid: str) -> Waiting:
    return Waiting("g", iid, "hook")


def _beats(script: dict[str, list[Exception]], slow: float = 0.0) -> tuple[Heartbeats, Edge, ManualClock]:
    clock = ManualClock(1000.0)
    edge = Edge(clock, script, slow)
    return Heartbeats(edge, clock, workers=1), edge, clock


def test_a_failed_heartbeat_is_sent_once_more_and_a_gone_one_is_not() -> None:
    hb, edge, _ = _beats(
        {"i-throttled": [AwsError("Throttling")], "i-gone": [ActionGone("No active Lifecycle Action")]}
    )
    first = hb.run([(_w(i), 100.0) for i in ("i-ok", "i-throttled", "i-gone")], deadline=2000)
    assert [b.sent for b in first] == [True, False, False]
    again = hb.second_chance(2000)
    assert [(b.waiting.instance_id, b.sent) for b in again] == [("i-throttled", True)]
    assert "i-throttled" not in hb.failing
    assert hb.second_chance(2000) == []  # once
    assert edge.sent == ["i-ok", "i-throttled", "i-gone", "i-throttled"]


def test_an_unsent_heartbeat_gets_the_second_chance_while_time_is_left() -> None:
    hb, edge, _ = _beats({}, slow=10)
    hb.run([(_w("i-a"), 100.0), (_w("i-b"), 100.0)], deadline=1005)  # i-a takes the pass past its deadline
    assert hb.unsent == 1
    assert [b.waiting.instance_id for b in hb.second_chance(1030) if b.sent] == ["i-b"]  # a later, wider deadline
    assert edge.sent == ["i-a", "i-b"]


def test_no_second_chance_once_the_deadline_has_passed() -> None:
    hb, edge, _ = _beats({"i-a": [AwsError("Throttling")]}, slow=10)
    hb.run([(_w("i-a"), 100.0)], deadline=1005)
    assert hb.second_chance(1005) == []  # not started late
    assert edge.sent == ["i-a"] and "i-a" in hb.failing  # left to the next round


def test_a_heartbeat_sent_since_the_pass_is_not_sent_again() -> None:
    hb, edge, clock = _beats({"i-a": [AwsError("Throttling")]})
    hb.run([(_w("i-a"), 100.0)], deadline=2000)
    clock.advance(1)
    hb.beat(_w("i-a"))  # the judgment's proof went through meanwhile
    assert hb.second_chance(2000) == []
    assert edge.sent == ["i-a", "i-a"]
