"""Warm pools over HTTP: the AWS emulator keeps real instances in a group's warm pool (DescribeWarmPool lists them)
and takes one out through the terminating hook (`Warmed:Terminating:Wait`, the event with `Origin: WarmPool`, an
activity naming the instance). A pool kept Running runs its user data, so an agent may have registered there and
taken a job: the gate must find such an instance (tick: DescribeWarmPool; event: DescribeAutoScalingInstances) and
hold it like any other until its build ends. The clock is a ManualClock advanced in steps shorter than the hook's
heartbeat timeout, so a missed heartbeat shows as a `timeout` in the emulator's history."""

from __future__ import annotations

from typing import Any

from emulator.sandbox import Sandbox
from gate.adapters.logs import Record
from gate.domain.clock import ManualClock
from gate.service.triggers import Gate
from tests.functional.features.conftest import deliver, history, make_group

GROUP = "ci-agents"
STEP = 60  # seconds per tick: well inside the hook's 300 s heartbeat timeout
LAG = 30  # the assignment lag bound (its own tests are in tests/functional/judgment)


def busy_warm_instance(sandbox: Sandbox, group: str = GROUP, build_seconds: float = 600) -> tuple[str, int, int]:
    """A group of one, and a Running warm-pool instance whose agent runs a build: (instance, agent, build)."""
    make_group(sandbox, group, size=1)
    [warm] = sandbox.warm_instances(group, 1, "Running", agents=True)
    agent = sandbox.groups[group].agents[warm]
    assert sandbox.ado is not None
    return warm, agent, sandbox.ado.start_build(agent, build_seconds)


def released(records: list[Record], instance_id: str) -> bool:
    return any(r.get("instance") == instance_id and r["outcome"] == "released" for r in records)


def tick_until_released(gate: Gate, clock: ManualClock, instance_id: str, max_ticks: int = 40) -> list[Record]:
    """Tick every STEP seconds of the ManualClock until the instance is released; every record, in order."""
    records: list[Record] = []
    for _ in range(max_ticks):
        clock.advance(STEP)
        records += gate.tick()
        if released(records, instance_id):
            return records
    raise AssertionError(f"{instance_id} not released after {max_ticks} ticks: {records[-3:]}")


def complete_time(sandbox: Sandbox, instance_id: str) -> dict[str, Any]:
    [done] = history(sandbox, "complete")[instance_id]
    return done


def assert_released_after_build(sandbox: Sandbox, instance_id: str, agent: int, build: int, group: str = GROUP) -> None:
    """CONTINUE by the gate after the build ended; the registration deleted; the instance gone; no hook timed out."""
    assert sandbox.ado is not None
    done = complete_time(sandbox, instance_id)
    assert done["result"] == "CONTINUE"
    finished = sandbox.ado.build(build)["finished_at"]
    assert finished is not None and finished <= done["time"]  # the build ended on its own, before the completion
    assert sandbox.ado.build(build)["result"] == "succeeded"
    registration = sandbox.ado.agent(agent)
    assert registration is not None and registration["deleted"]
    assert not history(sandbox, "timeout")
    assert instance_id not in sandbox.warm_pool(group)
    assert sandbox.emulator is not None
    assert instance_id not in {a["instance_id"] for a in sandbox.emulator.lifecycle_actions()}


def test_a_busy_running_warm_instance_is_held_by_the_tick_when_the_event_is_lost(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    warm, agent, build = busy_warm_instance(sandbox)
    assert sandbox.instance_ids(GROUP) != [warm]  # not in the group's own list: only DescribeWarmPool shows it
    sandbox.terminate_from_warm_pool(GROUP, warm)
    [event] = sandbox.receive_events()  # lost: never delivered
    assert event["detail"]["Origin"] == "WarmPool" and event["detail"]["EC2InstanceId"] == warm
    assert sandbox.warm_pool(GROUP) == {warm: "Warmed:Terminating:Wait"}
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG))
    disabled_at = clock.now()

    first = gate.tick()
    assert {r["outcome"] for r in first if r.get("instance") == warm} == {"held"}
    assert history(sandbox, "heartbeat")[warm]
    assert sandbox.ado is not None
    registration = sandbox.ado.agent(agent)
    assert registration is not None and registration["enabled"] is False and registration["busy"]

    records = tick_until_released(gate, clock, warm)
    assert len(history(sandbox, "heartbeat")[warm]) >= 600 // 300  # kept alive through the build
    assert_released_after_build(sandbox, warm, agent, build)
    assert complete_time(sandbox, warm)["time"] >= disabled_at + LAG  # the lag bound runs from the disable
    assert not [r for r in first + records if r["outcome"] == "error"]


def test_a_busy_running_warm_instance_is_held_on_its_event(sandbox: Sandbox, clock: ManualClock) -> None:
    warm, agent, build = busy_warm_instance(sandbox)
    sandbox.terminate_from_warm_pool(GROUP, warm)
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG))

    records = deliver(gate, sandbox)
    assert [r["outcome"] for r in records] and {r["outcome"] for r in records} == {"held"}
    assert history(sandbox, "heartbeat")[warm]  # before anything else
    assert sandbox.ado is not None
    registration = sandbox.ado.agent(agent)
    assert registration is not None and registration["enabled"] is False  # drained on the event, before any tick
    assert sandbox.ado.build(build)["finished_at"] is None and not history(sandbox, "complete")

    tick_until_released(gate, clock, warm)
    assert_released_after_build(sandbox, warm, agent, build)


def test_a_stopped_warm_instance_without_agent_is_released_after_the_grace(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    grace = 150
    group = make_group(sandbox, size=1)
    [warm] = sandbox.warm_instances(GROUP, 1, "Stopped")
    assert sandbox.warm_pool(GROUP) == {warm: "Warmed:Stopped"}
    sandbox.terminate_from_warm_pool(GROUP, warm)
    sandbox.receive_events()  # lost: the tick alone finds it
    gate = sandbox.gate(sandbox.settings(unregistered_grace_seconds=grace))
    start = clock.now()

    first = gate.tick()
    assert {r["outcome"] for r in first if r.get("instance") == warm} == {"held"}
    tick_until_released(gate, clock, warm)
    done = complete_time(sandbox, warm)
    assert done["result"] == "CONTINUE"
    assert done["time"] >= start + grace - 0.001  # no agent ever seen: not before the grace (tags keep milliseconds)
    assert not history(sandbox, "timeout")
    assert sandbox.emulator is not None and not sandbox.emulator.lifecycle_actions()
    assert sandbox.warm_pool(GROUP) == {}
    ec2 = sandbox.client("ec2").describe_instances(InstanceIds=[warm])["Reservations"][0]["Instances"][0]
    assert ec2["State"]["Name"] == "terminated"
    assert sandbox.ado is not None  # the only registration is the group instance's own, untouched
    assert [(a["id"], a["enabled"]) for a in sandbox.ado.state()["agents"] if not a["deleted"]] == [
        (group.agents[group.instances[0]], True)
    ]
    assert sandbox.instance_ids(GROUP) == group.instances  # the group's own instance untouched


def test_a_failing_describe_warm_pool_is_one_error_for_its_group(sandbox: Sandbox, clock: ManualClock) -> None:
    failing, failing_agent, failing_build = busy_warm_instance(sandbox, GROUP)
    other, other_agent, other_build = busy_warm_instance(sandbox, "builders")
    for group, iid in ((GROUP, failing), ("builders", other)):
        sandbox.terminate_from_warm_pool(group, iid)
    sandbox.receive_events()  # lost
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG))
    first = gate.tick()
    assert {r["instance"]: r["outcome"] for r in first if r.get("instance")} == {failing: "held", other: "held"}

    assert sandbox.emulator is not None
    sandbox.emulator.faults.inject(
        "DescribeWarmPool", code="ServiceUnavailable", status=503, count=None, params={"AutoScalingGroupName": GROUP}
    )
    beats = {iid: len(history(sandbox, "heartbeat")[iid]) for iid in (failing, other)}
    for _ in range(3):
        clock.advance(STEP)
        records = gate.tick()
        [error] = [r for r in records if r["outcome"] == "error"]
        assert error.get("group") == GROUP and GROUP in error["reason"] and "warm pool" in error["reason"]
        assert "builders" not in error["reason"]
        assert {r["outcome"] for r in records if r.get("instance") == other} == {"held"}  # judged as usual
    after = {iid: len(history(sandbox, "heartbeat")[iid]) for iid in (failing, other)}
    assert after[other] > beats[other]
    assert after[failing] > beats[failing]  # what its pool last listed is still heartbeated
    assert sandbox.ado is not None
    for agent in (failing_agent, other_agent):
        registration = sandbox.ado.agent(agent)
        assert registration is not None and registration["enabled"] is False
    assert not history(sandbox, "complete") and not history(sandbox, "timeout")

    sandbox.emulator.faults.clear()
    tick_until_released(gate, clock, other)
    if failing not in history(sandbox, "complete"):
        tick_until_released(gate, clock, failing)
    assert_released_after_build(sandbox, other, other_agent, other_build, "builders")
    assert_released_after_build(sandbox, failing, failing_agent, failing_build)


def test_the_tick_reads_every_page_of_the_warm_pool(sandbox: Sandbox, clock: ManualClock) -> None:
    """DescribeWarmPool answers at most 50 instances a page: the one leaving is on the second page."""
    make_group(sandbox, size=1)
    pool = sandbox.warm_instances(GROUP, 51, "Stopped")
    sandbox.terminate_from_warm_pool(GROUP, pool[-1])
    sandbox.receive_events()  # lost
    first = sandbox.gate().tick()
    assert {r["outcome"] for r in first if r.get("instance") == pool[-1]} == {"held"}
    assert history(sandbox, "heartbeat")[pool[-1]]
    assert {r.get("instance") for r in first} <= {pool[-1], None}  # the pool's other instances are not waiting


def test_a_warm_instance_retained_after_a_gate_outage_is_cleaned_up(sandbox: Sandbox, clock: ManualClock) -> None:
    """As for `Terminating:Retained` (the hook's DefaultResult ABANDON after a gate outage, with retention): once
    the build ends, the tick deletes the agent and terminates the instance."""
    make_group(sandbox, size=1, retain_on_abandon=True)
    [warm] = sandbox.warm_instances(GROUP, 1, "Running", agents=True)
    agent = sandbox.groups[GROUP].agents[warm]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(agent, 600)
    sandbox.terminate_from_warm_pool(GROUP, warm)
    sandbox.receive_events()  # the gate is down: no event, no tick
    clock.advance(301)  # past the hook's heartbeat timeout
    assert sandbox.warm_pool(GROUP) == {warm: "Warmed:Terminating:Retained"}
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=LAG))
    for _ in range(20):
        gate.tick()
        clock.advance(STEP)
    assert sandbox.ado.build(build)["result"] == "succeeded"  # never killed: the instance was kept
    registration = sandbox.ado.agent(agent)
    assert registration is not None and registration["deleted"]
    assert warm not in sandbox.warm_pool(GROUP)
