"""The assignment lag bound runs from when the disables returned, not from the decision (found by the decision
property test, tests/unit/test_decide.py::test_never_completes_while_a_job_runs).

A disable takes effect at the latest when its PATCH returns; on a slow agent system that is tens of seconds after the
decision, and a job assigned in between may stay invisible for the whole bound. Over HTTP: the fake Azure DevOps
answers the PATCH 27 s late (on the world's clock), and the release must come no earlier than the bound after that
answer; a hold whose second tag write was lost (another container looks next, `p=1`) restarts the bound.
Verdicts from the fake's agent history and the AWS emulator's lifecycle history.
"""

from __future__ import annotations

from gate.domain.holdstate import HOLD_TAG, decode
from tests.support.world import World

LAG = 10.0  # tests.support.world.FAST's assignment_lag_seconds
SLOW = 27.0


def _disabled_at(world: World, iid: str) -> float:
    """When the fake applied the disable (its agent history, the world's clock)."""
    history = world.agent(iid)["history"]
    return float(min(h["time"] for h in history if h["enabled"] is False))


def _hold_tag(world: World, iid: str) -> str:
    tags = world.sb.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    return next((t["Value"] for t in tags if t["Key"] == HOLD_TAG), "")


def test_the_lag_bound_runs_from_the_disables_return(world: World) -> None:
    [iid] = world.scale_in(2, protect=[1, 2])
    world.ado.inject("latency", method="PATCH", delay=SLOW, count=1)
    decided = world.clock.now()
    gate = world.gate()
    gate.tick(budget=300)
    applied = _disabled_at(world, iid)
    assert applied >= decided + SLOW  # the fake took the PATCH's 27 s before applying it
    [done] = world.history("complete")[iid]
    assert done["result"] == "CONTINUE"
    assert float(done["time"]) >= applied + LAG, "released less than the lag bound after the disable took effect"


def test_a_hold_whose_disables_return_was_lost_restarts_the_bound_at_the_next_look(world: World) -> None:
    [iid] = world.scale_in(2, protect=[1, 2])
    world.ado.inject("latency", method="PATCH", delay=SLOW, count=1)
    world.emu.faults.inject("CreateTags", skip=1, count=1)  # the tag before the disables lands, the one after not
    first = world.gate()
    first.tick(budget=0)  # disables, then returns: the release is not due yet
    assert iid not in world.history("complete")
    applied = _disabled_at(world, iid)
    state = decode(_hold_tag(world, iid))
    assert state is not None and state.pending, "the tag written before the disables says they are pending"
    assert state.disabled_at is not None and state.disabled_at < applied  # the decision's time: too early a start
    # Another container looks next, with no memory of the disables' return: it must not run the bound from the
    # decision. Its look shows the agent disabled, so the bound starts over from that look.
    second = world.gate()
    looked = world.clock.now()
    second.tick(budget=300)
    [done] = world.history("complete")[iid]
    assert done["result"] == "CONTINUE"
    assert float(done["time"]) >= max(applied, looked) + LAG
