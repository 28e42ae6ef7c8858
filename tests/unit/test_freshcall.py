"""FreshCall: a shared answer is only ever one that started after its caller asked (the final look's safety)."""

from __future__ import annotations

import itertools
import threading

import pytest

from gate.service.freshcall import FreshCall


class Ticks:
    """A global order of events: a caller asking, a call starting."""

    def __init__(self) -> None:
        self._next = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return next(self._next)


def waiting_callers(fresh: FreshCall[int]) -> int:
    with fresh._cond:
        return sum(fresh._waiting.values())


def wait_until(predicate: object, what: str) -> None:
    """Waits on the FreshCall's own condition changes (no wall-clock assertion); a generous cap only against a hang."""
    done = threading.Event()
    for _ in range(20_000):
        if predicate():  # type: ignore[operator]
            return
        done.wait(0.001)
    pytest.fail(f"never: {what}")


def test_one_caller_at_a_time_gets_a_call_of_its_own() -> None:
    ticks = Ticks()
    fresh = FreshCall(ticks)
    answers = [fresh.get() for _ in range(3)]
    assert answers == [1, 2, 3] and fresh.calls == 3


def test_callers_who_ask_during_a_call_share_the_next_one_never_the_running_one() -> None:
    ticks, gate = Ticks(), threading.Event()

    def fetch() -> int:
        started = ticks()
        if started == 1:
            gate.wait()  # the first call runs until every other caller has asked
        return started

    fresh = FreshCall(fetch)
    answers: dict[str, int] = {}
    first = threading.Thread(target=lambda: answers.__setitem__("first", fresh.get()))
    first.start()
    wait_until(lambda: fresh._running, "the first call runs")
    late = [threading.Thread(target=lambda k=k: answers.__setitem__(f"late{k}", fresh.get())) for k in range(5)]
    for t in late:
        t.start()
    wait_until(lambda: waiting_callers(fresh) == 6, "five callers wait behind the running call")
    gate.set()
    for t in [first, *late]:
        t.join()
    assert answers["first"] == 1
    assert {answers[f"late{k}"] for k in range(5)} == {2}  # one call, started after all of them asked
    assert fresh.calls == 2 and not fresh._done and not fresh._waiting  # nothing kept once taken


def test_a_failed_call_fails_each_of_its_callers_and_the_next_asks_again() -> None:
    outcomes = iter([RuntimeError("pool unavailable"), 7])

    def fetch() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    fresh = FreshCall(fetch)
    with pytest.raises(RuntimeError, match="pool unavailable"):
        fresh.get()
    assert fresh.get() == 7 and fresh.calls == 2


def test_under_contention_every_answer_started_after_its_caller_asked() -> None:
    ticks = Ticks()
    fresh = FreshCall(ticks)
    bad: list[tuple[int, int]] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(300):
            asked = ticks()
            answer = fresh.get()
            if answer <= asked:
                with lock:
                    bad.append((asked, answer))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a caller never got its answer"
    assert not bad
    assert fresh.calls <= 8 * 300 and not fresh._done and not fresh._waiting
