"""Issue 11 over HTTP: release only on evidence bound to this lifecycle action. Each test is one bullet of the issue,
driven through the real gate, the AWS emulator and the fake Azure DevOps on a ManualClock."""

from __future__ import annotations

from gate.domain.holdstate import HOLD_TAG
from gate.domain.model import HELD_SINCE_TAG
from gate.domain.timestamps import format_ts
from tests.functional.judgment.conftest import LAG
from tests.support.world import World, killed, outcomes


def tags(world: World, iid: str) -> dict[str, str]:
    resp = world.sb.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])
    return {t["Key"]: t["Value"] for t in resp["Tags"]}


def build_on(world: World, iid: str, seconds: float) -> int:
    return world.ado.start_build(world.group.agents[iid], seconds)


def test_stale_held_since_from_an_earlier_action_is_not_forced(world: World) -> None:
    long_ago = format_ts(world.clock.now() - 10 * 3600)
    victim = world.group.instances[0]
    ec2 = world.sb.client("ec2")
    ec2.create_tags(Resources=[victim], Tags=[{"Key": HELD_SINCE_TAG, "Value": long_ago}])
    ec2.create_tags(Resources=[victim], Tags=[{"Key": HOLD_TAG, "Value": f"v=2 a=0123456789abcdef h={long_ago}"}])
    build_on(world, victim, 300)
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate(max_hold_seconds=3600).tick(budget=60)
    assert "forced" not in outcomes(records, iid) and outcomes(records, iid)[0] == "held"
    assert not tags(world, iid).get(HELD_SINCE_TAG)  # the unbound tag is cleared
    assert "h=" + long_ago not in tags(world, iid)[HOLD_TAG]  # the foreign hold tag is replaced
    records = world.gate(max_hold_seconds=3600).tick(budget=400)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    assert not tags(world, iid).get(HOLD_TAG)  # cleared on completion


def test_instance_waiting_on_someone_elses_hook_is_left_untouched(world: World) -> None:
    asg = world.sb.client("autoscaling")
    asg.put_lifecycle_hook(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName="someone-elses-hook",
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=3600,
        DefaultResult="CONTINUE",
    )
    [iid] = world.scale_in(2)
    # Our action ends (e.g. completed by an operator); the instance still waits on the other team's hook.
    asg.complete_lifecycle_action(
        AutoScalingGroupName=world.group.name,
        LifecycleHookName=world.group.hook,
        InstanceId=iid,
        LifecycleActionResult="CONTINUE",
    )
    assert world.sb.lifecycle_states(world.group.name)[iid] == "Terminating:Wait"
    world.gate().tick(budget=30)
    agent = world.agent(iid)
    assert agent["enabled"] and not agent["deleted"]
    assert not any(v for k, v in tags(world, iid).items() if k.startswith("gate:"))


def test_empty_agent_list_holds_a_busy_instance(world: World) -> None:
    victim = world.group.instances[0]
    build_on(world, victim, 200)
    [iid] = world.scale_in(2)
    gate = world.gate()
    gate.tick(budget=10)  # seen and disabled
    world.ado.inject("empty_list", seconds=150, path_contains="/agents")
    records = gate.tick(budget=120)
    assert "released" not in outcomes(records, iid) and not killed(world)
    # The held agent is asked for directly and exists: the list is incomplete, its pool failing (a loud hold).
    assert any("the list is incomplete" in r["reason"] for r in records if r["instance"] == iid)
    records = gate.tick(budget=300)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)


def test_count_mismatch_is_an_error_and_holds(world: World) -> None:
    victim = world.group.instances[0]
    build_on(world, victim, 120)
    [iid] = world.scale_in(2)
    gate = world.gate()
    gate.tick(budget=10)
    world.ado.inject("count_mismatch", seconds=200)
    records = gate.tick(budget=150)
    assert "released" not in outcomes(records, iid) and not killed(world)
    world.ado.clear_faults()
    records = gate.tick(budget=200)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)


def test_agent_reregistering_with_a_gap_holds_and_both_registrations_go(world: World) -> None:
    [iid] = world.scale_in(2)
    gate = world.gate()
    gate.tick(budget=5)  # seen and disabled
    old = world.group.agents[iid]
    world.ado.remove_agent(old)  # the agent restarts: its registration goes ...
    records = gate.tick(budget=20)
    assert "released" not in outcomes(records, iid)
    caps = {"AWS_INSTANCE_ID": iid}
    new = world.ado.add_agent(world.group.pool, f"agent-{iid}", capabilities=caps)  # ... and it comes back
    records = gate.tick(budget=200)
    assert outcomes(records, iid)[-1] == "released"
    assert world.ado.agent(new)["deleted"] and not world.ado.agent(new)["enabled"]  # disabled before deleted
    release = world.history("complete")[iid][0]["time"]
    disabled_new = next(h["time"] for h in world.ado.agent(new)["history"] if h["enabled"] is False)
    assert release >= disabled_new + 60  # the lag bound restarted with the new registration


def test_job_assigned_just_before_the_disable_and_invisible_for_30s_is_not_released(world: World) -> None:
    world.ado.inject("assignment_lag", count=None, delay=30)
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # the queued job can only land on the victim
    [iid] = world.scale_in(2)
    assert iid == victim
    world.ado.queue_build(world.group.pool, 120)  # assigned now, invisible for 30 s
    records = world.gate().tick(budget=400)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    [build] = world.ado.builds()
    assert build["result"] == "succeeded" and build["finished_at"] <= world.history("complete")[iid][0]["time"]


def test_idle_victim_is_released_at_the_lag_bound_and_not_before(world: World) -> None:
    [iid] = world.scale_in(2)
    start = world.clock.now()
    records = world.gate().tick(budget=120)
    assert outcomes(records, iid)[-1] == "released"
    assert 60 <= world.history("complete")[iid][0]["time"] - start <= 60 + 10


def test_missing_assigned_request_is_held_unless_job_requests_are_checked(world: World) -> None:
    victim = world.group.instances[0]
    build_on(world, victim, 200)
    world.ado.inject("no_assigned_request", count=None)
    [iid] = world.scale_in(2)
    records = world.gate(check_job_requests=False).tick(budget=400)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    assert any("busy field" in r["reason"] or "job request" in r["reason"] for r in records if r["instance"] == iid)


def _private_dns(world: World, iid: str) -> str:
    ec2 = world.sb.client("ec2")
    return str(ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["PrivateDnsName"])


def test_same_short_host_name_elsewhere_is_not_matched(world: World) -> None:
    victim = world.group.instances[0]
    dns = _private_dns(world, victim)
    mine = world.ado.add_agent(world.group.pool, "host-agent", computer_name=dns)
    stranger = world.ado.add_agent(world.group.pool, "stranger", computer_name=dns.split(".")[0])
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate(mapping="hostname").tick(budget=200)
    assert outcomes(records, iid)[-1] == "released"
    assert world.ado.agent(mine)["deleted"]
    assert world.ado.agent(stranger)["enabled"] and not world.ado.agent(stranger)["deleted"]


def test_name_mentioning_the_id_as_a_substring_is_not_matched(world: World) -> None:
    victim = world.group.instances[0]
    strangers = [
        world.ado.add_agent(world.group.pool, f"multi{victim}"),
        world.ado.add_agent(world.group.pool, f"{victim}ab"),
    ]
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate().tick(budget=200)
    assert outcomes(records, iid)[-1] == "released" and world.agent(iid)["deleted"]
    for agent in strangers:
        snapshot = world.ado.agent(agent)
        assert snapshot is not None and snapshot["enabled"] and not snapshot["deleted"]


# -- a job that ended after the acknowledged disable ends the lag bound early (issue 15: release in seconds) ------
def _disabled_at(world: World, iid: str) -> float:
    return float(next(h["time"] for h in world.agent(iid)["history"] if h["enabled"] is False))


def test_a_build_ending_after_the_acknowledged_disable_is_released_before_the_lag_bound(world: World) -> None:
    victim = world.group.instances[0]
    build_on(world, victim, 20)
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate().tick(budget=200)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    [build] = world.ado.builds()
    released = world.history("complete")[iid][0]["time"]
    assert released < _disabled_at(world, iid) + LAG  # not held to the lag bound ...
    assert build["finished_at"] <= released  # ... yet only once the build had ended
    final = next(r for r in records if r["instance"] == iid and r["outcome"] == "released")
    assert "after the disable was acknowledged" in final["reason"]
    stamped = [r for r in records if r["instance"] == iid and any("acknowledgement" in a for a in r.get("actions", []))]
    assert stamped, "the disables' acknowledgement was written to the hold tag"


def test_a_job_landing_right_after_a_short_one_just_before_the_disable_waits_the_lag_bound(world: World) -> None:
    """The short job's finishTime is before the disable: it proves nothing about the invisible job that followed."""
    world.ado.inject("assignment_lag", count=None, delay=30)
    victim = world.group.instances[0]
    for other in world.group.instances[1:]:
        world.ado.set_enabled(world.group.agents[other], False)  # the queued job can only land on the victim
    build_on(world, victim, 1)
    world.clock.advance(2)  # the first job has ended (and shows finished) ...
    world.ado.queue_build(world.group.pool, 120)  # ... the next lands on the victim, invisible for 30 s
    [iid] = world.scale_in(2)
    assert iid == victim
    records = world.gate().tick(budget=400)
    assert outcomes(records, iid)[-1] == "released" and not killed(world)
    second = max(world.ado.builds(), key=lambda b: b["id"])
    assert second["result"] == "succeeded" and second["finished_at"] <= world.history("complete")[iid][0]["time"]
