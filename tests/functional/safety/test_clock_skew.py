"""Issue 18, clock skew over HTTP: one clock per comparison.

The acknowledged-disable rule ends the lag bound early when an agent's newest job finished after the disables were
acknowledged. finishTime is on the agent service's clock; the acknowledgement used to be on the gate's (plus 5 s), so
an on-premises Azure DevOps Server whose clock runs ahead made a job that ended *before* the disable look like it ended
after it, and the job assigned just before the disable, still invisible, was killed. Now the acknowledgement is the
disable PATCH response's `Date` (the service's time), the skew is measured on every response, and a large or unknown
skew (or a zone-less timestamp) leaves only the lag bound. Verdicts come from the fake's job records and the AWS
emulator's lifecycle history.
"""

from __future__ import annotations

import pytest

from tests.support.world import World, completed_at, disabled_at, killed, outcomes

LAG = 60.0  # the default lag bound: the rule under test ends it early


@pytest.mark.parametrize("offset", [10.0, 30.0, 120.0, -60.0], ids=["ahead10", "ahead30", "ahead120", "behind60"])
def test_a_job_assigned_just_before_the_disable_is_never_released_whatever_the_service_clock(
    world: World, offset: float
) -> None:
    """A 1 s job ends just before the scale-in; the next one lands on the victim just before the disable, invisible
    for 30 s. The first job's finishTime, on a clock running ahead, used to pass for "ended after the disable"."""
    world.ado.set_service_clock(offset)
    world.ado.inject("assignment_lag", count=None, delay=30)
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # the queued job can only land on the victim
    world.ado.start_build(world.group.agents[victim], 1)
    world.clock.advance(2)  # the first job has ended (and shows finished) ...
    world.ado.queue_build(world.group.pool, 120)  # ... the next lands on the victim, invisible for 30 s
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate(assignment_lag_seconds=LAG).tick(budget=400)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    second = max(world.ado.builds(), key=lambda b: b["id"])
    assert second["result"] == "succeeded" and second["finished_at"] <= completed_at(world, iid)
    # The skew was measured and said so: no acknowledgement was stamped, the lag bound applied.
    reasons = " ".join(r["reason"] for r in records if r["instance"] == iid)
    assert any(f"clock skew {offset + d:+.0f}s" in reasons for d in (-1, 0, 1)), reasons


@pytest.mark.parametrize("offset", [0.0, 3.0, -3.0], ids=["same", "ahead3", "behind3"])
def test_a_build_ending_after_the_acknowledged_disable_is_still_released_early(world: World, offset: float) -> None:
    """The rule keeps its benefit: with the clocks together (or a few seconds apart), a 20 s build is released once
    it ends, well inside the lag bound."""
    world.ado.set_service_clock(offset)
    victim = world.group.instances[0]
    world.ado.start_build(world.group.agents[victim], 20)
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate(assignment_lag_seconds=LAG).tick(budget=200)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    [build] = world.ado.builds()
    released = completed_at(world, iid)
    assert build["finished_at"] <= released < disabled_at(world, iid) + LAG
    final = next(r for r in records if r["instance"] == iid and r["outcome"] == "released")
    assert "after the disable was acknowledged" in final["reason"]


def test_zone_less_timestamps_leave_only_the_lag_bound(world: World) -> None:
    """A server writing local times without a zone: finishTime is unknown, so the bound applies."""
    world.ado.set_service_clock(0.0, zoneless=True)
    victim = world.group.instances[0]
    world.ado.start_build(world.group.agents[victim], 20)
    [iid] = world.scale_in(2)
    records = world.gate(assignment_lag_seconds=LAG).tick(budget=200)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    assert completed_at(world, iid) >= disabled_at(world, iid) + LAG


def test_a_service_clock_that_steps_forward_after_the_acknowledgement_releases_nothing_early(world: World) -> None:
    """The acknowledged-disable rule compares finishTime with the disable's acknowledgement, both on the service's
    clock. The victim is seen running a short job; between the round's list and the disable, that job ends and the
    next one lands on it (invisible for 30 s); the disable is acknowledged. Then the service's clock steps 120 s
    forward: the first job's finishTime now reads later than the acknowledgement, as if it had ended after the
    disable. The skew measured when the job requests are read says the clock moved: no early release."""
    world.ado.inject("assignment_lag", count=None, delay=30)
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # the queued job can only land on the victim
    first = world.ado.start_build(world.group.agents[victim], 600)
    world.clock.advance(40)  # seen busy, visibly (past the assignment lag)
    [iid] = world.scale_in(2)
    assert iid == victim
    second: dict[str, int] = {}

    def next_job() -> None:  # right after the round's list: the first job ends, the next lands on the victim
        world.ado.finish_build(first)
        second["build"] = world.ado.queue_build(world.group.pool, 120)

    world.ado.after("/agents", next_job)
    gate = world.gate(assignment_lag_seconds=LAG)
    records = gate.tick(budget=0)
    assert second and world.ado.build(second["build"])["agent_id"] == world.group.agents[victim]
    assert not world.agent(victim)["enabled"]
    world.ado.set_service_clock(120.0)  # the step
    for _ in range(30):
        world.clock.advance(5)
        records += gate.tick(budget=0)
        if iid in world.history("complete"):
            break
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    build = world.ado.build(second["build"])
    assert build["result"] == "succeeded" and build["finished_at"] <= completed_at(world, iid)
