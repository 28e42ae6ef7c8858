"""Issue 18, too many agents over HTTP: no hold skips a safe action.

An instance with more agents than its hold tag can remember (256 characters, about 20 agents) is held until max hold
without release on evidence. It used to stop there, before the disables: an agent whose disable failed once, or one
that registered during the hold, took jobs all hold long, and the forced completion deleted agents that ran builds
(deleting a registration abandons its job on Azure DevOps). Now every enabled agent is disabled whatever holds the
instance, and a forced completion deletes only agents proven idle. Verdicts come from the fake's agent histories and
builds and the AWS emulator's lifecycle history.
"""

from __future__ import annotations

from tests.support.world import World

MAX_HOLD = 600.0


def disabled_at(world: World, agent_id: int) -> float | None:
    snapshot = world.ado.agent(agent_id)
    assert snapshot is not None
    return next((float(h["time"]) for h in snapshot["history"] if h["enabled"] is False), None)


def test_an_overflowed_hold_disables_every_agent_and_the_forced_completion_deletes_no_busy_one(world: World) -> None:
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # keep the victim the one scaled in
    many = [world.ado.add_agent(world.group.pool, f"agent-{victim}-{n}") for n in range(50)]
    agents = [world.group.agents[victim], *many]
    busy = many[5]
    build = world.ado.start_build(busy, 3 * MAX_HOLD)  # still running at max hold
    flaky = many[7]
    # Its first disable fails (the client's own three retries included): it stays enabled after the first look.
    world.ado.inject("server_error", count=4, method="PATCH", path_contains=f"/agents/{flaky}?")
    [iid] = world.scale_in(2)
    assert iid == victim
    gate = world.gate(max_hold_seconds=MAX_HOLD)
    records = gate.tick(budget=30)
    assert any("too many agents" in r["reason"] for r in records if r["instance"] == iid)
    assert any(f"#{flaky} failed" in r["reason"] for r in records if r["instance"] == iid)  # disabled again later
    late = world.ado.add_agent(world.group.pool, f"agent-{victim}-late")  # registers during the hold
    records += gate.tick(budget=MAX_HOLD + 60)
    assert [r["outcome"] for r in records if r["instance"] == iid][-1] == "forced"
    forced = float(world.history("complete")[iid][0]["time"])
    for agent in [*agents, late]:
        at = disabled_at(world, agent)
        assert at is not None and at < forced - MAX_HOLD / 2, f"agent {agent} took jobs during the hold"
    snapshot = world.ado.agent(busy)
    assert snapshot is not None and not snapshot["deleted"] and not snapshot["enabled"]  # kept, disabled
    assert world.ado.build(build)["result"] != "abandoned"
    final = next(r for r in records if r["instance"] == iid and r["outcome"] == "forced")
    assert "kept registered" in final["reason"]
    idle = [a for a in [*agents, late] if a != busy]
    assert all(world.ado.agent(a)["deleted"] for a in idle)  # type: ignore[index]  # no registration left behind
