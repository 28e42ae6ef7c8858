"""Issue 18, tags denied over HTTP: facts over our own state.

With CreateTags denied (IAM), the hold's memory used to live only in the tag: every invocation started the hold over.
An instance with no agent was held until the hook's global timeout (the unregistered grace restarted), a busy one was
never released after its build (the lag bound restarted), and max hold never came. Now the hold starts at the scaling
activity's StartTime (a fact AWS keeps), each container keeps its own copy of every hold's state, and a failed tag
write blocks neither a disable nor a release. Invocations are one tick a minute, each shorter than the lag bound (as a
Lambda's); verdicts come from the AWS emulator's lifecycle history and the fake's builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.world import World

LAG = 60.0
TICK = 60.0  # EventBridge's schedule
BUDGET = 20.0  # one invocation's re-checks: shorter than the lag bound


@pytest.fixture(autouse=True)
def tags_denied(world: World) -> Iterator[None]:
    world.emu.faults.inject(
        "CreateTags", code="UnauthorizedOperation", status=403, message="not authorized: ec2:CreateTags", count=None
    )
    yield
    world.emu.faults.clear()


def run(world: World, until: float, *, cold: bool, **settings: Any) -> list[dict[str, Any]]:
    """One tick a minute until `until` (clock time) or a completion; `cold`: a new container each time (no memory)."""
    records: list[dict[str, Any]] = []
    warm = world.gate(assignment_lag_seconds=LAG, tick_budget_seconds=BUDGET, **settings)
    while world.clock.now() < until and not world.history("complete"):
        began = world.clock.now()
        gate = world.gate(assignment_lag_seconds=LAG, tick_budget_seconds=BUDGET, **settings) if cold else warm
        records += gate.tick(budget=BUDGET)
        world.clock.advance(max(0.0, began + TICK - world.clock.now()))
    return records


def activity_start(world: World, iid: str) -> float:
    resp = world.sb.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=world.group.name)
    started = next(a["StartTime"] for a in resp["Activities"] if iid in a["Description"])
    return float(started.timestamp())


def test_an_instance_with_no_agent_is_released_after_the_grace_from_the_first_complete_list(world: World) -> None:
    """Issue #18 (seed 1110): the grace runs from the hold's first complete agent list (`l=`), not from the activity
    start; with CreateTags denied a warm container keeps that start in memory. (A new container every invocation
    with tags denied keeps no `l=`: such an instance waits for max hold, the same residual as the lag bound's.)"""
    victim = world.group.instances[0]
    world.ado.remove_agent(world.group.agents[victim])  # no agent registered for it
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    grace = 120.0
    records = run(world, world.clock.now() + 900, cold=False, unregistered_grace_seconds=grace)
    outcomes = [r["outcome"] for r in records if r["instance"] == iid]
    assert outcomes[-1] == "released", outcomes
    released = float(world.history("complete")[iid][0]["time"])
    assert released <= activity_start(world, iid) + grace + TICK  # not restarted each invocation
    assert any("CreateTags" in r["reason"] for r in records if r["instance"] == iid)  # the denial is reported


def test_a_busy_instance_is_released_soon_after_its_build_ends(world: World) -> None:
    victim = world.group.instances[0]
    build = world.ado.start_build(world.group.agents[victim], 150)
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    records = run(world, world.clock.now() + 900, cold=False)
    assert [r["outcome"] for r in records if r["instance"] == iid][-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    ended = world.ado.build(build)["finished_at"]
    assert ended <= released <= ended + LAG + 2 * TICK  # the lag bound from the disable, not from each invocation


def test_max_hold_still_forces_on_time(world: World) -> None:
    victim = world.group.instances[0]
    world.ado.start_build(world.group.agents[victim], 3600)
    [iid] = world.scale_in(2, protect=[1, 2])
    max_hold = 300.0
    records = run(world, world.clock.now() + 900, cold=True, max_hold_seconds=max_hold)
    assert [r["outcome"] for r in records if r["instance"] == iid][-1] == "forced"
    forced = float(world.history("complete")[iid][0]["time"])
    assert forced <= activity_start(world, iid) + max_hold + TICK
