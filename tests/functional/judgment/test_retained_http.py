"""Retained instances (ABANDON on a group with TerminateHookAbandon = retain) are cleaned up once their agents are
idle: agents deleted, instance terminated; never while a build runs."""

from __future__ import annotations

from tests.functional.judgment.conftest import LAG
from tests.support.world import FAST, World


def ec2_state(world: World, iid: str) -> str:
    reservations = world.sb.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def test_forced_abandon_retains_then_cleanup_waits_for_the_build_then_terminates(retaining: World) -> None:
    world = retaining
    victim = world.group.instances[0]
    build = world.ado.start_build(world.group.agents[victim], 400)
    world.scale_in(1)
    settings = {**FAST, "assignment_lag_seconds": LAG, "forced_result": "ABANDON", "max_hold_seconds": 120}
    gate = world.sb.gate(world.sb.settings(**settings))
    records = gate.tick(budget=150)
    assert "forced" in [r["outcome"] for r in records if r["instance"] == victim]
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Retained"
    records = gate.tick(budget=100)  # the build still runs: kept
    assert world.sb.lifecycle_states(world.group.name).get(victim) == "Terminating:Retained"
    assert not world.ado.agent(world.group.agents[victim])["deleted"]
    for _ in range(10):
        world.clock.advance(60)
        records = gate.tick(budget=0)
        if victim not in world.sb.lifecycle_states(world.group.name):
            break
    assert victim not in world.sb.lifecycle_states(world.group.name)
    assert world.ado.build(build)["result"] == "succeeded"
    assert world.ado.agent(world.group.agents[victim])["deleted"]
    assert ec2_state(world, victim) == "terminated"
    [done] = [r for r in records if r["instance"] == victim and r["outcome"] == "released"]
    assert "terminated" in done["reason"] and "terminate the retained instance" in done["actions"]
    assert world.clock.now() >= world.ado.build(build)["finished_at"]


def test_idle_retained_instance_is_terminated_after_the_lag_bound(retaining: World) -> None:
    world = retaining
    victim = world.group.instances[0]
    asg = world.sb.client("autoscaling")
    world.scale_in(1)
    asg.complete_lifecycle_action(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName=world.group.hook,
        InstanceId=victim,
        LifecycleActionResult="ABANDON",
    )
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Retained"
    gate = world.gate()
    gate.tick(budget=0)  # first sight: disabled
    assert not world.ado.agent(world.group.agents[victim])["enabled"]
    assert victim in world.sb.lifecycle_states(world.group.name)
    world.clock.advance(61)
    gate.tick(budget=0)
    assert victim not in world.sb.lifecycle_states(world.group.name) and ec2_state(world, victim) == "terminated"
    assert world.ado.agent(world.group.agents[victim])["deleted"]


def test_a_registration_between_the_cleanups_list_and_its_termination_is_seen_by_the_final_look(
    retaining: World,
) -> None:
    """The retained clean-up releases by the same evidence as a hold, so it must look once more too (chaos
    gate_outage --unguarded): here an agent registers again under a new id on the retained instance and takes a queued
    job right after the gate asked for the idle agent's job requests past the lag bound. The final look sees it,
    disables it and keeps the instance until its job ends; without it the instance was terminated with the job
    running and the new registration was left behind."""
    world = retaining
    victim, other = world.group.instances
    world.ado.set_enabled(world.group.agents[other], False)  # a queued job can only land on the victim's agents
    [iid] = world.scale_in(1, protect=[1])
    assert iid == victim
    world.sb.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName=world.group.hook,
        InstanceId=victim,
        LifecycleActionResult="ABANDON",
    )
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Retained"
    gate = world.gate()
    gate.tick(budget=0)  # first sight: disabled, the lag bound starts
    assert not world.ado.agent(world.group.agents[victim])["enabled"]
    world.clock.advance(LAG + 1)
    late: dict[str, int] = {}

    def register_and_take_a_job() -> None:
        late["agent"] = world.ado.add_agent(world.group.pool, f"agent-{victim}-2")
        late["build"] = world.ado.queue_build(world.group.pool, 90)

    world.ado.after("jobrequests", register_and_take_a_job)
    gate.tick(budget=0)
    assert late, "the clean-up never asked for job requests before terminating"
    assert world.ado.build(late["build"])["agent_id"] == late["agent"]
    for _ in range(10):
        if victim not in world.sb.lifecycle_states(world.group.name):
            break
        world.clock.advance(60)
        gate.tick(budget=0)
    assert victim not in world.sb.lifecycle_states(world.group.name), "terminated once the new job ended"
    build = world.ado.build(late["build"])
    assert build["result"] == "succeeded" and build["finished_at"] is not None  # not killed
    terminated = float(world.history("terminated")[victim][0]["time"])
    assert build["finished_at"] <= terminated
    snapshot = world.ado.agent(late["agent"])
    assert snapshot is not None and snapshot["deleted"]  # not left behind
