"""A Lambda-shaped driver over the live local world: ticks every minute, each invocation with a context whose
remaining time runs on the world's ManualClock, so the gate's deadlines are those a real function would have.

Latency faults on a ManualClock add up (each call advances the shared clock), so a client's per-call timeout cannot
cut them short as it would in AWS: tests that inject latency run the judgment pass with one worker and give the
invocation a margin of one whole call. The concurrency itself is shown on wall time (test_concurrency.py) and at
scale by `bench/liveness.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from emulator.sandbox import Sandbox
from gate.adapters.logs import Record
from gate.domain.clock import Clock, ManualClock
from gate.handler import dispatch, invocation_deadline
from gate.service.triggers import Gate
from tests.support.world import FAST, World

TICK: dict[str, Any] = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
FUNCTION_TIMEOUT = 70.0  # the Terraform module's default for a 50 s budget


class Context:
    """The slice of the Lambda context the handler reads, on the world's clock."""

    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:asg-termination-gate"

    def __init__(self, clock: Clock, timeout: float) -> None:
        self.clock = clock
        self.ends = clock.now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.ends - self.clock.now()) * 1000)


@dataclass
class Lambda:
    """One warm container (one Gate) invoked like the function: a tick every minute, events as they arrive."""

    world: World
    gate: Gate
    timeout: float = FUNCTION_TIMEOUT
    durations: list[float] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> list[Record]:
        start = self.world.clock.now()
        records = dispatch(self.gate, event, invocation_deadline(self.gate, Context(self.world.clock, self.timeout)))
        self.durations.append(self.world.clock.now() - start)
        self.records += records
        return records

    def minutes(self, n: int, between: Callable[[int], None] | None = None, *, events: bool = True) -> None:
        """`n` scheduled ticks a minute apart (an invocation that overran starts the next one at once). Lifecycle
        events go first, one after the other; `events=False` loses them (EventBridge is best effort), which is also
        the faithful choice under latency faults: real event invocations run concurrently, these would not."""
        for minute in range(n):
            start = self.world.clock.now()
            for event in self.world.sb.receive_events():
                if events:
                    self.invoke(event)
            self.invoke(TICK)
            if between is not None:
                between(minute)
            left = start + 60 - self.world.clock.now()
            if left > 0:
                self.world.clock.advance(left)


def assert_live(world: World, fn: Lambda | None = None) -> None:
    """The invariant this suite is about: no hook timed out, no build was killed, no invocation overran."""
    timeouts = [h for h in world.emu.history() if h["what"] == "timeout"]
    assert not timeouts, timeouts
    killed = [b for b in world.ado.builds() if b["result"] == "abandoned"]
    assert not killed, killed
    if fn is not None:
        assert fn.durations and max(fn.durations) <= fn.timeout, fn.durations


def heartbeats(world: World) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for h in world.emu.history():
        if h["what"] == "heartbeat":
            out.setdefault(h["instance_id"], []).append(h["time"])
    return out


def make_world(size: int = 3, heartbeat_timeout: int = 300, **group: Any) -> Iterator[World]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        created = sb.create_group("ci-agents", size, heartbeat_timeout=heartbeat_timeout, **group)
        yield World(sb, clock, created)


@pytest.fixture
def world() -> Iterator[World]:
    yield from make_world()


def lambda_for(world: World, **settings: Any) -> Lambda:
    defaults = {**FAST, "tick_budget_seconds": 50, "recheck_interval_seconds": 10}
    return Lambda(world, world.sb.gate(world.sb.settings(**{**defaults, **settings})))


def busy(world: World, instances: list[str], seconds: float = 3600) -> None:
    for iid in instances:
        world.ado.start_build(world.group.agents[iid], seconds)
