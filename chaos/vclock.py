"""Virtual time for concurrent invocations: a clock that moves only when every participant waits on it.

A `ManualClock` advances on every `sleep`, so two invocations sleeping 10 s each would move time by 20 s. Here a
sleeping thread blocks until the clock reaches its wake time, and the driver (`run_until`) moves the clock to the
earliest wake time only once every registered participant (one thread per Lambda invocation) is asleep. Server-side
sleeps (the fake Azure DevOps' `latency` fault) also count as asleep: they stand in for the invocation blocked on
their request. HTTP calls take wall time but no virtual time, so overlapping invocations see consistent durations,
whatever the machine's load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Stuck(RuntimeError):
    """A participant neither slept nor finished for too long (a hang, or an unbounded wall-clock wait)."""


class VirtualClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._t = start
        self._cond = threading.Condition()
        self._active = 0
        self._sleepers: list[float] = []  # wake times of sleeping threads
        self._closed = False
        self.deadlines: Callable[[], list[float]] | None = None  # when other systems' timers fire
        self.on_time: Callable[[], None] | None = None  # called at each stop, before sleepers wake

    def now(self) -> float:
        with self._cond:
            return self._t

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._cond:
            wake = self._t + seconds
            self._sleepers.append(wake)
            self._cond.notify_all()
            try:
                while self._t < wake and not self._closed:
                    self._cond.wait(1.0)
            finally:
                self._sleepers.remove(wake)
                self._cond.notify_all()

    def join(self) -> None:
        """A participant starts (call before starting its thread, so the driver cannot miss it)."""
        with self._cond:
            self._active += 1

    def leave(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    @property
    def active(self) -> int:
        with self._cond:
            return self._active

    def close(self) -> None:
        """Wake every sleeper for good (the end of a run)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def run_until(self, target: float, stall_seconds: float = 180.0) -> None:
        """Advance to `target`, stopping at each sleeper's wake time and at each of `deadlines()` (another system's
        timer: the emulator's heartbeat timeouts), where `on_time()` runs before any sleeper wakes."""
        while True:
            with self._cond:
                limit = time.monotonic() + stall_seconds
                while len([w for w in self._sleepers if w > self._t]) < self._active:
                    if time.monotonic() > limit:
                        raise Stuck(
                            f"{self._active} participant(s), {len(self._sleepers)} asleep, for {stall_seconds} s"
                        )
                    self._cond.wait(0.02)
                now = self._t
            timers = [d for d in (self.deadlines() if self.deadlines is not None else []) if d > now]
            with self._cond:
                if len([w for w in self._sleepers if w > self._t]) < self._active:
                    continue  # somebody woke up meanwhile (a server-side sleep ended): wait for them again
                pending = [w for w in self._sleepers if w > self._t]
                nxt = min([target, *pending, *timers])
                moved = nxt > self._t
                if moved:
                    self._t = nxt
                done = self._t >= target
            if moved and self.on_time is not None:
                self.on_time()  # e.g. the emulator applies a timeout exactly at its deadline, before anyone acts
            with self._cond:
                self._cond.notify_all()
            if done:
                return

    def drain(self, stall_seconds: float = 180.0, step: float = 10.0) -> None:
        """Run until no participant is left."""
        while self.active:
            self.run_until(self.now() + step, stall_seconds)


class SkewedClock:
    """Another system's clock: the same time plus a fixed offset (the agent service's clock skew)."""

    def __init__(self, base: VirtualClock, offset: float) -> None:
        self.base = base
        self.offset = offset

    def now(self) -> float:
        return self.base.now() + self.offset

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)
