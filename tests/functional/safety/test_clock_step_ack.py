"""A service clock stepped backward by less than the skew allowance (an NTP correction), over HTTP.

The acknowledged-disable rule ends the lag bound early when every agent's newest job finished (finishTime) after the
disable was acknowledged (`k=`, the disable response's `Date`), both on the agent service's clock. The skew check
(measured on every response, 5 s at most) cannot see a step that keeps the clock within the allowance on either
side: a clock stepped 3 s back between a job's end and the disable's answer, or from 4 s ahead to 4 s behind, makes
a job that ended *before* the disable read as ended after it, and the job assigned in between, still invisible,
was released and killed. The fake keeps the stamps it wrote before the step (`FakeAzureDevOps.step_service_clock`);
verdicts come from its build records and the AWS emulator's lifecycle history.
"""

from __future__ import annotations

import pytest

from tests.support.world import World, completed_at, disabled_at, killed, outcomes

LAG = 60.0  # the default lag bound: the rule under test ends it early


@pytest.mark.parametrize(
    ("before", "after", "gap"),
    [(0.0, -3.0, 0.0), (4.0, -4.0, 6.0)],
    ids=["back3-at-the-disable", "ahead4-to-behind4-6s-before"],
)
def test_a_backward_step_within_the_skew_allowance_releases_nothing_early(
    world: World, before: float, after: float, gap: float
) -> None:
    """The victim is seen running a job; right after the round's agent list that job ends and the next one lands on
    the victim (invisible for 30 s); `gap` s later the service's clock steps from `before` to `after` s off the
    gate's, and the disable is answered on the stepped clock. The first job's finishTime, written before the step,
    reads later than the acknowledgement: it must not end the lag bound, and the second job must not be killed."""
    world.ado.set_service_clock(before)
    world.ado.inject("assignment_lag", count=None, delay=30)
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # the queued job can only land on the victim
    first = world.ado.start_build(world.group.agents[victim], 600)
    world.clock.advance(40)  # seen busy, visibly (past the assignment lag)
    [iid] = world.scale_in(2)
    assert iid == victim
    second: dict[str, int] = {}

    def next_job() -> None:  # right after the round's list: the first job ends, the next lands, the clock steps
        world.ado.finish_build(first)
        second["build"] = world.ado.queue_build(world.group.pool, 120)
        world.clock.advance(gap)
        world.ado.step_service_clock(after)

    world.ado.after("/agents", next_job)
    gate = world.gate(assignment_lag_seconds=LAG)
    records = gate.tick(budget=0)
    assert second and world.ado.build(second["build"])["agent_id"] == world.group.agents[victim]
    assert not world.agent(victim)["enabled"]
    # The step went unseen: the disable was acknowledged (no skew record), so the rule was in play.
    reasons = " ".join(r["reason"] for r in records if r["instance"] == iid)
    assert "clock skew" not in reasons, reasons
    for _ in range(40):
        world.clock.advance(5)
        records += gate.tick(budget=0)
        if iid in world.history("complete"):
            break
    assert outcomes(records, iid)[-1] == "released"
    assert not killed(world), killed(world)
    build = world.ado.build(second["build"])
    assert build["result"] == "succeeded" and build["finished_at"] <= completed_at(world, iid)
    assert completed_at(world, iid) >= disabled_at(world, iid) + LAG


def test_a_build_ending_just_after_the_acknowledged_disable_waits_the_lag_bound(world: World) -> None:
    """The margin's cost: a build that truly ends a few seconds after the disable (inside the margin that covers an
    unseen step) is no longer released early; it waits the lag bound, and nothing is killed."""
    victim = world.group.instances[0]
    world.ado.start_build(world.group.agents[victim], 5)
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate(assignment_lag_seconds=LAG).tick(budget=200)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    [build] = world.ado.builds()
    assert build["finished_at"] > disabled_at(world, iid)  # it did end after the disable ...
    assert completed_at(world, iid) >= disabled_at(world, iid) + LAG  # ... and still waited the bound
