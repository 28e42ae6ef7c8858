"""A bounded thread pool whose results are collected only until a deadline.

The gate's outbound calls are I/O-bound (Auto Scaling, Azure DevOps), so threads overlap their latency: a
thousand heartbeats at 50 ms each take ~3 s on 16 threads instead of 50 s. Waiting stops at the deadline, so a
hung call can delay nothing but its own instance; one pool per purpose keeps judgment from ever occupying the
threads heartbeats need. With one worker everything runs inline (deterministic simulations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from gate.domain.clock import Clock

T = TypeVar("T")
R = TypeVar("R")

# How often a wait re-reads the clock: the deadline is on the gate's clock, which a simulation may scale.
_POLL_SECONDS = 0.05


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """Batches of at most `size`: the APIs' per-call limits (50 groups, 200 filter values, 50 SetInstanceProtection)."""
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class Workers:
    def __init__(self, size: int, clock: Clock, name: str) -> None:
        self.size = max(1, size)
        self.clock = clock
        self.name = name
        self._pool: ThreadPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Sequence[T], deadline: float) -> list[tuple[T, R]]:
        """(item, result) for every item finished by the deadline, in input order. `fn` must not raise."""
        if self.size == 1 or len(items) <= 1:
            out: list[tuple[T, R]] = []
            for item in items:
                if self.clock.now() >= deadline:
                    break
                out.append((item, fn(item)))
            return out
        if self._pool is None:  # one pool per container, reused by warm invocations
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=self.name)
        futures: list[Future[R]] = [self._pool.submit(fn, item) for item in items]
        pending = set(futures)
        while pending and self.clock.now() < deadline:
            _, pending = wait(pending, timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in pending:
            future.cancel()  # not started yet: skipped; running: left to finish, its result unused
        return [(item, f.result()) for item, f in zip(items, futures, strict=True) if f.done() and not f.cancelled()]
