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
