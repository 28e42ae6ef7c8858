"""Issue 18, ambiguity means hands off, over HTTP: an agent whose name holds the victim's instance id and an in-service
instance's id is never disabled or deleted (from the fake Azure DevOps' records), and the victim is held, not released
for want of agents, until the ambiguity is gone or max hold; the agent is reported once per container."""

from __future__ import annotations

from typing import Any

from tests.support.world import World


def outcomes(records: list[Any], iid: str) -> list[str]:
    return [r["outcome"] for r in records if r.get("instance") == iid]


def ambiguity_errors(records: list[Any]) -> list[str]:
    return [r["reason"] for r in records if r["outcome"] == "error" and "ambiguous" in r["reason"]]


def completes(world: World, iid: str) -> list[dict[str, Any]]:
    return world.history("complete").get(iid, [])


def test_an_agent_naming_the_victim_and_an_in_service_instance_is_never_touched(world: World) -> None:
    [victim] = world.scale_in(2)
    in_service = next(i for i in world.group.instances if i != victim)
    ambiguous = world.ado.add_agent(world.group.pool, f"ci-{victim}-{in_service}")
    world.ado.start_build(ambiguous, 150)  # it may run a build on the victim: releasing now could kill it
    gate = world.gate()
    records = gate.tick(budget=200) + gate.tick(budget=200)  # well past the unregistered grace and the lag bound

    snapshot = world.ado.agent(ambiguous)
    assert snapshot is not None and snapshot["history"] == [] and not snapshot["deleted"]  # never PATCHed or deleted
    assert not completes(world, victim) and world.history("heartbeat").get(victim)  # held, kept alive
    assert set(outcomes(records, victim)) == {"held"}
    assert any("hands off" in r["reason"] for r in records if r.get("instance") == victim)
    own = world.agent(victim)
    assert not own["enabled"] and not own["deleted"]  # a hold still takes every safe action on the victim's own agent
    other = world.agent(in_service)
    assert other["enabled"] and other["history"] == []  # the in-service instance's own agent: untouched
    [error] = ambiguity_errors(records)  # once per agent per container, over two invocations
    assert f"#{ambiguous}" in error

    # The ambiguity goes (the agent re-registers under one instance's name): the victim is released on evidence.
    world.ado.remove_agent(ambiguous)
    records = gate.tick(budget=200)
    assert outcomes(records, victim)[-1] == "released" and completes(world, victim)[0]["result"] == "CONTINUE"
    assert world.agent(victim)["deleted"]
    gone = world.ado.agent(ambiguous)
    assert gone is not None and gone["deleted_by"] == "script"  # its registration went by its own hand, not ours


def test_at_max_hold_the_victim_is_forced_and_the_ambiguous_agent_still_untouched(world: World) -> None:
    [victim] = world.scale_in(2)
    in_service = next(i for i in world.group.instances if i != victim)
    world.ado.remove_agent(world.group.agents[victim])  # its only agent is the ambiguous one
    ambiguous = world.ado.add_agent(world.group.pool, f"ci-{in_service}-{victim}")
    records = world.gate(max_hold_seconds=240).tick(budget=400)

    [complete] = completes(world, victim)
    first_wait = next(h["time"] for h in world.emu.history() if h["what"] == "wait" and h["instance_id"] == victim)
    assert complete["time"] >= first_wait + 240  # not released by the unregistered grace: held to max hold
    assert outcomes(records, victim)[-1] == "forced"
    snapshot = world.ado.agent(ambiguous)
    assert snapshot is not None and snapshot["history"] == [] and not snapshot["deleted"]
