"""A dry run's tick plans the retained clean-up too (issue 20, item 4): what a real tick would call for a retained
instance (disable its agents; later delete them and terminate the instance), in order, and nothing done."""

from __future__ import annotations

from typing import Any

from tests.support.world import World


def agent(world: World, agent_id: int) -> dict[str, Any]:
    found = world.ado.agent(agent_id)
    assert found is not None
    return found


def test_a_dry_run_plans_the_retained_cleanup_and_does_nothing(retaining: World) -> None:
    world = retaining
    victim = world.group.instances[0]
    agent_id = world.group.agents[victim]
    world.scale_in(1)
    world.sb.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName=world.group.hook,
        InstanceId=victim,
        LifecycleActionResult="ABANDON",
    )
    assert world.sb.lifecycle_states(world.group.name)[victim] == "Terminating:Retained"

    [first] = [r for r in world.gate(dry_run=True).tick(budget=0) if r["instance"] == victim]
    assert first["outcome"] == "skipped" and first["reason"].startswith("retained instance: dry run: would "), first
    assert any(step.startswith("disable ") for step in first["actions"]) and first["actions"][-1] == "hold", first
    assert agent(world, agent_id)["enabled"]  # nothing done

    world.gate().tick(budget=0)  # the real tick: disabled
    assert not agent(world, agent_id)["enabled"]
    world.clock.advance(61)  # past the lag bound: a real tick would now delete the agent and terminate the instance
    [then] = [r for r in world.gate(dry_run=True).tick(budget=0) if r["instance"] == victim]
    assert then["outcome"] == "skipped", then
    steps = [s.split("=")[0] for s in then["actions"]]  # a tag's value aside
    pool = world.group.pool
    assert steps == [
        "tag gate:hold",  # the release decision recorded first (`r=`): record, delete, end
        f"delete {pool}/agent-{victim}#{agent_id}",
        "terminate the retained instance",
        "tag gate:hold",
        "release",
    ]
    assert victim in world.sb.lifecycle_states(world.group.name)  # nothing done
    assert not agent(world, agent_id)["deleted"]
