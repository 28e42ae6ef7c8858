"""One call whose answer serves every caller that asked for it before it started.

The final look before a release (gate.service.evidence) must be a list taken after the decision: any list that
*started* after the caller asked is as good as its own. With many releases in one round (a thousand builds ending
together), each asking for its own list of every pool, the looks cost more than the releases; sharing them costs
nothing in safety, because a caller only ever gets the answer of a call that started after it asked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FreshCall(Generic[T]):
    """`get()` returns the result of a call of `fetch` that started after `get` was called, or raises what that call
    raised. Callers who ask while a call runs wait for the next one, which then serves all of them at once."""

    def __init__(self, fetch: Callable[[], T]) -> None:
        self._fetch = fetch
        self._cond = threading.Condition()
        self._started = 0  # calls started so far; the next one to start is number _started + 1
        self._running = False
        self._done: dict[int, tuple[T | None, BaseException | None]] = {}
        self._waiting: dict[int, int] = {}  # callers of each call that have not taken its answer yet
        self.calls = 0  # calls of `fetch` made (the tests count them)

    def get(self) -> T:
        with self._cond:
            need = self._started + 1  # the next call to start: necessarily after now
            self._waiting[need] = self._waiting.get(need, 0) + 1
            lead = False
            while need not in self._done:
                if not self._running and self._started < need:
                    self._started, self._running, lead = need, True, True
                    break
                self._cond.wait()
            if not lead:
                return self._take(need)
        value: T | None = None
        error: BaseException | None = None
        try:
            self.calls += 1
            value = self._fetch()
        except BaseException as exc:  # handed to every caller of this call, as if each had made it
            error = exc
        with self._cond:
            self._done[need] = (value, error)
            self._running = False
            self._cond.notify_all()
            return self._take(need)

    def _take(self, number: int) -> T:
        """The answer of call `number`, forgotten once its last caller has it. Called with the lock held."""
        value, error = self._done[number]
        self._waiting[number] -= 1
        if not self._waiting[number]:
            del self._waiting[number], self._done[number]
        if error is not None:
            raise error
        return value  # type: ignore[return-value]
