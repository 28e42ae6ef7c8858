"""Injected faults of a fake service (GitLab, GitHub): which request each one answers, and for how long.

A fake names its own kinds and what each answers; this is the bookkeeping they share: a fault answers `count`
requests (None: every one) until `seconds` of the fake's clock have passed (None: until cleared), only for `method`
and paths containing `path` when given; the first injected that matches answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Fault:
    kind: str
    count: int | None
    until: float | None
    method: str | None = None
    status: int = 503
    retry_after: int = 60
    delay: float = 0.0  # `latency`: seconds of the fake's clock before the answer
    path: str | None = None  # only requests whose path contains this

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and (self.path is None or self.path in path)


class Faults:
    """The faults one fake answers with, first injected first."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now  # the fake's clock, read at each call (a world may swap the fake's clock)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        count: int | None = None,
        seconds: float | None = None,
        method: str | None = None,
        status: int = 503,
        retry_after: int = 60,
        delay: float = 0.0,
        path: str | None = None,
    ) -> None:
        """A fault, in the order of the fakes' `inject` (which names each argument)."""
        until = self._now() + seconds if seconds is not None else None
        with self._lock:
            self._faults.append(Fault(kind, count, until, method, status, retry_after, delay, path))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that answers this request, if any (its count goes down by one); spent and expired ones go."""
        with self._lock:
            now = self._now()
            self._faults = [f for f in self._faults if f.count != 0 and (f.until is None or now < f.until)]
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None and fault.count is not None:
                fault.count -= 1
            return fault
