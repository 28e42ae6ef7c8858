"""AWS calls per hold, counted in the emulator's request log: what a hold costs once, and what an hour of it costs.

Wired like the function in production and in the fleet simulation: each lifecycle event is a fresh container, the
ticks reuse one warm container, so a hold is first seen twice (each container heartbeats it once at first sight, the
only proof a container has that the action is ours before it tags or disables). The hook's HeartbeatTimeout is
3,600 s: the heartbeat pass's cadence is 1,200 s.
"""

from __future__ import annotations

from collections import Counter

from tests.functional.liveness.conftest import TICK, Lambda, assert_live, busy, heartbeats, lambda_for, make_world
from tests.support.world import World

PER_INSTANCE = (
    "RecordLifecycleActionHeartbeat",
    "CreateTags",
    "CompleteLifecycleAction",
    "DescribeAutoScalingInstances",
)


def _run(world: World, ticks: Lambda, minutes: int) -> None:
    """`minutes` ticks a minute apart on the warm container; each lifecycle event on a fresh container first."""
    for _ in range(minutes):
        start = world.clock.now()
        for event in world.sb.receive_events():
            Lambda(world, lambda_for(world).gate).invoke(event)
        ticks.invoke(TICK)
        left = start + 60 - world.clock.now()
        if left > 0:
            world.clock.advance(left)


def _calls(world: World, since: int) -> Counter[str]:
    return Counter(c["action"] for c in world.emu.faults.calls[since:] if c["action"] in PER_INSTANCE)


def _one_busy_hold(build_seconds: float, minutes: int) -> tuple[list[float], Counter[str], list[str]]:
    for world in make_world(size=2, heartbeat_timeout=3600):
        seen = len(world.emu.faults.calls)
        (iid,) = world.scale_in(1)
        busy(world, [iid], build_seconds)
        ticks = lambda_for(world)
        _run(world, ticks, minutes)
        assert_live(world, ticks)
        outcomes = [r["outcome"] for r in ticks.records if r.get("instance") == iid]
        assert outcomes[-1] == "released", outcomes
        return heartbeats(world)[iid], _calls(world, seen), outcomes
    raise AssertionError("no world")


def test_a_short_busy_hold_costs_three_heartbeats() -> None:
    """A 5-minute build on the victim. The event's container: the first-sight heartbeat, which also proves the
    `draining` record of the same round (an agent still enabled cannot have been released by anyone); it sees the
    build and leaves the instance to the tick. The tick's container: its first-sight heartbeat and the proof of its
    `busy` (a claim a concurrent release can overtake). Repeated `busy` records cost nothing, nor does the release.
    Before the same-round proof the `draining` record cost a fourth heartbeat."""
    beats, calls, _ = _one_busy_hold(300, 8)
    assert len(beats) == 3, beats
    assert calls["RecordLifecycleActionHeartbeat"] == 3
    assert calls["CompleteLifecycleAction"] == 1
    assert calls["DescribeAutoScalingInstances"] == 1  # the event path checks the instance really waits


def test_an_hour_long_busy_hold_adds_the_hooks_cadence_only() -> None:
    """A 2-hour build under a 3,600 s hook: the same three heartbeats of the first minutes, then one every 1,200 s
    (the heartbeat pass's cadence) and nothing else per instance until the build ends: 3 heartbeats per held hour
    once the hold is under way, whatever its records say every minute."""
    beats, calls, outcomes = _one_busy_hold(7200, 125)
    assert outcomes.count("held") >= 120  # every invocation still records the held instance
    first = beats[0]
    later = [t for t in beats if t - first >= 300]  # after the first five minutes
    assert len(beats) - len(later) == 3, beats
    # two hours of hold after the first minutes: 6 cadence heartbeats (7,200 s / 1,200 s), give or take the phase
    assert 5 <= len(later) <= 6, beats
    assert calls["RecordLifecycleActionHeartbeat"] == len(beats)
    assert calls["CompleteLifecycleAction"] == 1
