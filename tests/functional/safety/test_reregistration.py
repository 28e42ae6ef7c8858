"""Issue 18, re-registration over HTTP: a new registration is a new agent.

Clean-workspace agents deregister after each job and register again under a new id. The old registration's absence
(404 twice, idle_confirm apart) used to release the instance, and the new registration took a queued job as the
instance terminated. Now absence is confirmed over the lag bound from the first absent look, a new registration seen
meanwhile is disabled and restarts both the lag bound and the confirmation, and the instance is not released while the
new registration runs a job. Verdicts come from the fake's builds and agent histories and the AWS emulator's lifecycle
history.
"""

from __future__ import annotations

from tests.support.world import World, outcomes

LAG = 60.0


def test_an_agent_registering_again_under_a_new_id_is_disabled_and_its_job_is_not_killed(world: World) -> None:
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # queued jobs can only land on the victim's agents
    old = world.group.agents[victim]
    world.ado.start_build(old, 100)
    [iid] = world.scale_in(2)
    assert iid == victim
    start = world.clock.now()
    gate = world.gate(assignment_lag_seconds=LAG)
    records = gate.tick(budget=95)  # busy: held
    assert "released" not in outcomes(records, iid)
    world.clock.advance(start + 100 - world.clock.now())
    world.ado.remove_agent(old)  # the job ends and the agent deregisters at once (clean workspace) ...
    records = gate.tick(budget=20)  # ... its registration is absent (404)
    assert "released" not in outcomes(records, iid), "released on the old registration's absence"
    queued = world.ado.queue_build(world.group.pool, 90)
    new = world.ado.add_agent(world.group.pool, f"agent-{victim}")  # ... it is back under a new id and takes a job
    assert world.ado.build(queued)["agent_id"] == new
    records = gate.tick(budget=400)
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    build = world.ado.build(queued)
    assert build["result"] == "succeeded" and build["finished_at"] <= released  # not killed
    snapshot = world.ado.agent(new)
    assert snapshot is not None and snapshot["deleted"]
    disabled = next(h["time"] for h in snapshot["history"] if h["enabled"] is False)
    assert disabled < build["finished_at"]  # disabled as soon as it was seen: no second job could land on it
    assert released >= disabled + LAG  # the lag bound restarted with the new registration


def test_an_absence_alone_waits_the_lag_bound(world: World) -> None:
    """An agent that deregisters for good: its absence is confirmed over the lag bound from the first absent look
    (a re-registration, possibly in a pool the gate does not watch, would show meanwhile), then released."""
    victim = world.group.instances[0]
    old = world.group.agents[victim]
    world.ado.start_build(old, 100)
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    start = world.clock.now()
    gate = world.gate(assignment_lag_seconds=LAG)
    gate.tick(budget=95)
    world.clock.advance(start + 100 - world.clock.now())
    world.ado.remove_agent(old)
    records = gate.tick(budget=200)
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    assert released >= start + 100 + LAG


def test_a_registration_between_the_rounds_list_and_its_release_is_seen_by_the_final_look(world: World) -> None:
    """The round's list can be seconds old when a release is carried out. Here the agent registers again (and takes a
    queued job) right after the gate asked for the idle agent's job requests, the last evidence before a release: the
    final look sees the new registration, disables it and holds until its job ends; without the final look the
    instance was released with the job running (killed) and the new registration left behind."""
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # a queued job can only land on the victim's agents
    [iid] = world.scale_in(2, protect=[1, 2])
    assert iid == victim
    late: dict[str, int] = {}
    start = world.clock.now()

    def register_and_take_a_job() -> None:
        if world.clock.now() < start + LAG:  # job requests asked while the lag bound runs: not the release round yet
            world.ado.after("jobrequests", register_and_take_a_job)
            return
        late["agent"] = world.ado.add_agent(world.group.pool, f"agent-{victim}-2")
        late["build"] = world.ado.queue_build(world.group.pool, 90)

    world.ado.after("jobrequests", register_and_take_a_job)
    gate = world.gate(assignment_lag_seconds=LAG)
    records = gate.tick(budget=400)
    assert late, "the gate never asked for job requests before a release"
    assert outcomes(records, iid)[-1] == "released"
    released = float(world.history("complete")[iid][0]["time"])
    build = world.ado.build(late["build"])
    assert build["agent_id"] == late["agent"]
    assert build["result"] == "succeeded" and build["finished_at"] <= released  # not killed
    snapshot = world.ado.agent(late["agent"])
    assert snapshot is not None and snapshot["deleted"]  # not left behind
