"""The AWS emulator's warm pool against the shapes AWS documents, over HTTP with boto3 (ManualClock, no sleeps)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.amis import AMIS

from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock

GROUP = "ci-agents"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(clock) as sb:
        yield sb


def world(sandbox: Sandbox, *, with_hook: bool = True, retain_on_abandon: bool = False) -> Any:
    sandbox.create_group(
        GROUP,
        1,
        image_id=AMIS[0]["ami_id"],
        agents=False,
        with_hook=with_hook,
        heartbeat_timeout=300,
        retain_on_abandon=retain_on_abandon,
    )
    return sandbox.client("autoscaling")


def what(sandbox: Sandbox, instance_id: str) -> list[tuple[str, str | None, str | None]]:
    assert sandbox.emulator is not None
    return [(h["what"], h["result"], h["by"]) for h in sandbox.emulator.history() if h["instance_id"] == instance_id]


def activity(asg: Any, instance_id: str) -> dict[str, Any]:
    found = asg.describe_scaling_activities(AutoScalingGroupName=GROUP)["Activities"]
    [mine] = [a for a in found if a["Description"].endswith(instance_id)]
    return mine  # type: ignore[no-any-return]


def test_the_pool_is_listed_paginated_and_reported_everywhere_aws_reports_it(sandbox: Sandbox) -> None:
    asg = world(sandbox)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert "WarmPoolConfiguration" not in group and "WarmPoolSize" not in group
    running = sandbox.warm_instances(GROUP, 3, "Running")
    stopped = sandbox.warm_instances(GROUP, 2, "Stopped")

    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert group["WarmPoolConfiguration"]["PoolState"] == "Running" and group["WarmPoolSize"] == 5
    assert not set(running + stopped) & {i["InstanceId"] for i in group["Instances"]}  # not the group's own list

    first = asg.describe_warm_pool(AutoScalingGroupName=GROUP, MaxRecords=2)
    assert len(first["Instances"]) == 2 and first["NextToken"] and first["WarmPoolConfiguration"]["PoolState"]
    assert sandbox.warm_pool(GROUP) == {
        **{i: "Warmed:Running" for i in running},
        **{i: "Warmed:Stopped" for i in stopped},
    }
    pages = asg.get_paginator("describe_warm_pool").paginate(
        AutoScalingGroupName=GROUP, PaginationConfig={"PageSize": 2}
    )
    assert [len(p["Instances"]) for p in pages] == [2, 2, 1]
    with pytest.raises(ClientError):
        asg.describe_warm_pool(AutoScalingGroupName=GROUP, MaxRecords=51)

    [details] = asg.describe_auto_scaling_instances(InstanceIds=[stopped[0]])["AutoScalingInstances"]
    assert details["AutoScalingGroupName"] == GROUP and details["LifecycleState"] == "Warmed:Stopped"
    described = sandbox.client("ec2").describe_instances(InstanceIds=[stopped[0], running[0]])["Reservations"]
    states = {i["InstanceId"]: i["State"]["Name"] for r in described for i in r["Instances"]}
    assert states == {stopped[0]: "stopped", running[0]: "running"}


def test_leaving_the_pool_waits_on_the_hook_with_its_event_and_activity(sandbox: Sandbox) -> None:
    asg = world(sandbox, retain_on_abandon=True)
    [warm] = sandbox.warm_instances(GROUP, 1)
    sandbox.terminate_from_warm_pool(GROUP, warm)

    [event] = sandbox.receive_events()
    assert event["detail-type"] == "EC2 Instance-terminate Lifecycle Action"
    assert event["detail"]["EC2InstanceId"] == warm
    assert (event["detail"]["Origin"], event["detail"]["Destination"]) == ("WarmPool", "EC2")
    assert sandbox.warm_pool(GROUP) == {warm: "Warmed:Terminating:Wait"}
    [details] = asg.describe_auto_scaling_instances(InstanceIds=[warm])["AutoScalingInstances"]
    assert details["LifecycleState"] == "Warmed:Terminating:Wait"
    started = activity(asg, warm)
    assert started["Description"] == f"Terminating EC2 instance from warm pool: {warm}"
    assert started["StatusCode"] == "MidLifecycleAction"

    hook = sandbox.groups[GROUP].hook
    asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=GROUP, LifecycleHookName=hook, InstanceId=warm)
    token = event["detail"]["LifecycleActionToken"]
    asg.complete_lifecycle_action(
        AutoScalingGroupName=GROUP, LifecycleHookName=hook, LifecycleActionToken=token, LifecycleActionResult="ABANDON"
    )
    assert what(sandbox, warm) == [
        ("wait", None, None),
        ("heartbeat", None, "instance"),
        ("complete", "ABANDON", "token"),
        ("retained", "ABANDON", "token"),  # "Manage retained instances": the warm pool's path
    ]
    assert sandbox.warm_pool(GROUP) == {warm: "Warmed:Terminating:Retained"}
    assert activity(asg, warm)["StatusCode"] == "Successful"
    assert sandbox.emulator is not None and not sandbox.emulator.lifecycle_actions()

    asg.terminate_instance_in_auto_scaling_group(InstanceId=warm, ShouldDecrementDesiredCapacity=False)
    assert what(sandbox, warm)[-1] == ("terminated", None, "api") and sandbox.warm_pool(GROUP) == {}
    assert not asg.describe_auto_scaling_instances(InstanceIds=[warm])["AutoScalingInstances"]


def test_without_retention_either_result_terminates(sandbox: Sandbox) -> None:
    asg = world(sandbox)
    warm = sandbox.warm_instances(GROUP, 2, "Stopped")
    hook = sandbox.groups[GROUP].hook
    for iid, result in zip(warm, ("CONTINUE", "ABANDON"), strict=True):
        sandbox.terminate_from_warm_pool(GROUP, iid)
        asg.complete_lifecycle_action(
            AutoScalingGroupName=GROUP, LifecycleHookName=hook, InstanceId=iid, LifecycleActionResult=result
        )
        assert what(sandbox, iid)[-1] == ("terminated", result, "instance")
    assert sandbox.warm_pool(GROUP) == {}


def test_a_silent_hook_times_out_on_a_warm_instance(sandbox: Sandbox, clock: ManualClock) -> None:
    asg = world(sandbox)
    [warm] = sandbox.warm_instances(GROUP, 1, "Stopped")
    sandbox.terminate_from_warm_pool(GROUP, warm)
    clock.advance(299)
    assert sandbox.warm_pool(GROUP) == {warm: "Warmed:Terminating:Wait"}
    clock.advance(2)
    assert sandbox.warm_pool(GROUP) == {}  # the request ran the emulator's timers first
    assert what(sandbox, warm)[-2:] == [("timeout", "ABANDON", "timeout"), ("terminated", "ABANDON", "timeout")]
    assert activity(asg, warm)["StatusCode"] == "Successful"


def test_without_a_hook_the_instance_goes_at_once(sandbox: Sandbox) -> None:
    asg = world(sandbox, with_hook=False)
    [warm] = sandbox.warm_instances(GROUP, 1)
    sandbox.terminate_from_warm_pool(GROUP, warm)
    assert sandbox.warm_pool(GROUP) == {} and what(sandbox, warm) == [("terminated", None, "warm-pool")]
    assert activity(asg, warm)["StatusCode"] == "Successful"


def test_delete_warm_pool_takes_its_instances_out_through_the_hook_or_at_once_when_forced(sandbox: Sandbox) -> None:
    asg = world(sandbox)
    first = sandbox.warm_instances(GROUP, 2)
    asg.delete_warm_pool(AutoScalingGroupName=GROUP)
    listed = asg.describe_warm_pool(AutoScalingGroupName=GROUP)
    assert listed["WarmPoolConfiguration"]["Status"] == "PendingDelete"
    assert {i["LifecycleState"] for i in listed["Instances"]} == {"Warmed:Terminating:Wait"}
    assert len(sandbox.receive_events()) == 2
    hook = sandbox.groups[GROUP].hook
    for iid in first:
        asg.complete_lifecycle_action(
            AutoScalingGroupName=GROUP, LifecycleHookName=hook, InstanceId=iid, LifecycleActionResult="CONTINUE"
        )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert "WarmPoolConfiguration" not in group  # deleted once its last instance went

    second = sandbox.warm_instances(GROUP, 2)
    sandbox.terminate_from_warm_pool(GROUP, second[0])
    asg.delete_warm_pool(AutoScalingGroupName=GROUP, ForceDelete=True)
    assert sandbox.emulator is not None and not sandbox.emulator.lifecycle_actions()
    assert not asg.describe_warm_pool(AutoScalingGroupName=GROUP).get("WarmPoolConfiguration")
    assert [w[0] for w in what(sandbox, second[0])] == ["wait", "terminated"]


def test_a_fault_rule_can_name_one_group(sandbox: Sandbox) -> None:
    asg = world(sandbox)
    sandbox.create_group("other", 1, image_id=AMIS[0]["ami_id"], agents=False)
    sandbox.warm_instances(GROUP, 1)
    sandbox.warm_instances("other", 1)
    assert sandbox.emulator is not None
    sandbox.emulator.faults.inject(
        "DescribeWarmPool", code="ValidationError", count=None, params={"AutoScalingGroupName": GROUP}
    )
    with pytest.raises(ClientError):
        asg.describe_warm_pool(AutoScalingGroupName=GROUP)
    assert len(asg.describe_warm_pool(AutoScalingGroupName="other")["Instances"]) == 1
