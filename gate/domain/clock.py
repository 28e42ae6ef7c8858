"""Time as a dependency: the same decision code runs on wall time in AWS and on a fast clock in the simulator."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, as this clock sees them."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Runs `speed` times faster than wall time, starting from the real now.

    Every component of a simulation (emulator timers, fake builds, the gate's hold and idle timers) shares one
    instance, so a two-hour build finishes in seconds while the logic sees consistent durations.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._t0_wall = time.monotonic()
        self._t0 = time.time() if start is None else start

    def now(self) -> float:
        return self._t0 + (time.monotonic() - self._t0_wall) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


class ManualClock:
    """A clock that only moves when told to; `sleep` advances it instantly. For unit tests."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
