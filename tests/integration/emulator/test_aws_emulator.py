"""The AWS emulator against AWS's documented lifecycle-hook behaviour, over HTTP with boto3 (no internet)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.aws import AwsEmulator
from gate.domain.clock import ManualClock, ScaledClock

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
START = 1_800_000_000.0  # ManualClock's default start: 2027-01-15T08:00:00Z


@dataclass
class Aws:
    emu: AwsEmulator
    clock: ManualClock
    asg: Any
    ec2: Any
    events: Any
    sqs: Any
    queue_url: str = ""

    def group(self, name: str = "agents") -> dict[str, Any]:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]  # type: ignore[no-any-return]

    def states(self, name: str = "agents") -> dict[str, str]:
        return {i["InstanceId"]: i["LifecycleState"] for i in self.group(name)["Instances"]}

    def waiting(self, name: str = "agents") -> list[str]:
        return sorted(i for i, s in self.states(name).items() if s == "Terminating:Wait")

    def ec2_state(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]  # type: ignore[no-any-return]

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            out += [json.loads(m["Body"]) for m in got]

    def make_group(
        self,
        name: str = "agents",
        hooks: list[dict[str, Any]] | None = None,
        desired: int = 3,
        **extra: Any,
    ) -> list[str]:
        """A group in one AZ (so the victim order is the launch order) with terminating hooks; returns instance ids."""
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": "agent-lt"},
            MinSize=0,
            MaxSize=5,
            DesiredCapacity=desired,
            AvailabilityZones=["us-east-1a"],
            **extra,
        )
        for hook in hooks or []:
            self.asg.put_lifecycle_hook(AutoScalingGroupName=name, **{"LifecycleTransition": TERMINATING, **hook})
        return [i["InstanceId"] for i in self.group(name)["Instances"]]

    def complete(self, result: str = "CONTINUE", hook: str = "gate", name: str = "agents", **who: str) -> None:
        self.asg.complete_lifecycle_action(
            AutoScalingGroupName=name, LifecycleHookName=hook, LifecycleActionResult=result, **who
        )

    def heartbeat(self, hook: str = "gate", name: str = "agents", **who: str) -> None:
        self.asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=name, LifecycleHookName=hook, **who)


def _clients(emu: AwsEmulator) -> dict[str, Any]:
    kw = {
        "endpoint_url": emu.endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    return {svc: boto3.client(svc, **kw) for svc in ("autoscaling", "ec2", "events", "sqs")}  # type: ignore[call-overload]


@pytest.fixture
def aws() -> Iterator[Aws]:
    clock = ManualClock(start=START)
    with AwsEmulator(clock=clock, timer_interval=0.05) as emu:
        c = _clients(emu)
        env = Aws(emu, clock, c["autoscaling"], c["ec2"], c["events"], c["sqs"])
        env.ec2.create_launch_template(
            LaunchTemplateName="agent-lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )
        env.queue_url = env.sqs.create_queue(QueueName="lifecycle")["QueueUrl"]
        arn = env.sqs.get_queue_attributes(QueueUrl=env.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        pattern = {"source": ["aws.autoscaling"], "detail-type": [DETAIL_TYPE]}
        env.events.put_rule(Name="lifecycle", EventPattern=json.dumps(pattern))
        env.events.put_targets(Rule="lifecycle", Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])
        yield env


GATE: dict[str, Any] = {"LifecycleHookName": "gate", "HeartbeatTimeout": 30, "DefaultResult": "CONTINUE"}
ECS_HOOK = "ecs-managed-draining-termination-hook"  # ECS managed draining adds its own terminating hook
ECS: dict[str, Any] = {"LifecycleHookName": ECS_HOOK, "HeartbeatTimeout": 60, "DefaultResult": "CONTINUE"}


def _no_active(err: pytest.ExceptionInfo[ClientError], message: str) -> None:
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Message"] == message


def test_set_desired_capacity_puts_victims_in_wait_and_emits_the_aws_event(aws: Aws) -> None:
    ids = aws.make_group(hooks=[{**GATE, "NotificationMetadata": '{"pool":"linux"}'}])
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)

    group = aws.group()
    assert group["DesiredCapacity"] == 1
    assert aws.waiting() == sorted(ids[:2])  # one AZ: oldest first
    described = aws.asg.describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"]
    assert {i["InstanceId"]: i["LifecycleState"] for i in described} == aws.states()
    assert all(aws.ec2_state(i) == "running" for i in ids)

    bodies = aws.messages()
    assert len(bodies) == 2 and bodies == aws.emu.events
    actions = {a["instance_id"]: a for a in aws.emu.lifecycle_actions()}
    for body in bodies:
        assert list(body) == [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ]
        assert uuid.UUID(body["id"])
        assert body["version"] == "0" and body["source"] == "aws.autoscaling" and body["detail-type"] == DETAIL_TYPE
        assert (body["account"], body["region"]) == ("123456789012", "us-east-1")
        assert body["time"] == "2027-01-15T08:00:00Z"
        assert body["resources"] == [group["AutoScalingGroupARN"]]
        instance_id = body["detail"]["EC2InstanceId"]
        assert body["detail"] == {
            "LifecycleActionToken": actions[instance_id]["token"],
            "AutoScalingGroupName": "agents",
            "LifecycleHookName": "gate",
            "EC2InstanceId": instance_id,
            "LifecycleTransition": TERMINATING,
            "NotificationMetadata": '{"pool":"linux"}',
            "Origin": "AutoScalingGroup",
            "Destination": "EC2",
        }
    assert actions[ids[0]]["state"] == "Terminating:Wait"
    assert actions[ids[0]]["heartbeat_deadline"] == START + 30
    assert actions[ids[0]]["global_deadline"] == START + 3000  # min(48 h, 100 x 30 s)
    hook = aws.asg.describe_lifecycle_hooks(AutoScalingGroupName="agents")["LifecycleHooks"][0]
    assert (hook["NotificationMetadata"], hook["GlobalTimeout"]) == ('{"pool":"linux"}', 3000)

    # Waiting instances are outside desired capacity: not re-picked, not replaced, not counted by a later update.
    aws.asg.update_auto_scaling_group(AutoScalingGroupName="agents", MaxSize=4)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)
    assert len(aws.emu.events) == 2 and len(aws.states()) == 3 and aws.group()["DesiredCapacity"] == 1


def test_update_auto_scaling_group_lowering_max_scales_in(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE])
    aws.asg.update_auto_scaling_group(AutoScalingGroupName="agents", MaxSize=2)
    assert aws.group()["DesiredCapacity"] == 2 and aws.waiting() == [ids[0]]
    aws.asg.update_auto_scaling_group(AutoScalingGroupName="agents", DesiredCapacity=1)
    assert aws.waiting() == sorted(ids[:2])
    aws.asg.update_auto_scaling_group(AutoScalingGroupName="agents", DesiredCapacity=2)  # scale-out still launches
    assert sorted(aws.states().values()) == ["InService", "InService", "Terminating:Wait", "Terminating:Wait"]


def test_scale_in_protection_is_honoured_and_unprotecting_releases_the_pending_scale_in(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE])
    aws.asg.set_instance_protection(AutoScalingGroupName="agents", InstanceIds=ids[:2], ProtectedFromScaleIn=True)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)
    assert aws.waiting() == [ids[2]]
    assert aws.group()["DesiredCapacity"] == 1  # two protected InService above desired: AWS just cannot scale in

    aws.asg.set_instance_protection(AutoScalingGroupName="agents", InstanceIds=[ids[1]], ProtectedFromScaleIn=False)
    aws.asg.describe_auto_scaling_groups()  # the group keeps trying to reach desired capacity
    assert aws.waiting() == sorted([ids[1], ids[2]])


def test_new_instances_protected_from_scale_in_blocks_scale_in(aws: Aws) -> None:
    aws.make_group(hooks=[GATE], NewInstancesProtectedFromScaleIn=True)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)
    assert aws.waiting() == [] and aws.group()["DesiredCapacity"] == 1 and aws.emu.events == []


def test_terminate_instance_in_auto_scaling_group(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE])
    aws.asg.set_instance_protection(AutoScalingGroupName="agents", InstanceIds=ids, ProtectedFromScaleIn=True)

    # Protection does not stop an explicit termination; with decrement, no replacement.
    aws.asg.terminate_instance_in_auto_scaling_group(InstanceId=ids[2], ShouldDecrementDesiredCapacity=True)
    assert aws.waiting() == [ids[2]] and aws.group()["DesiredCapacity"] == 2 and len(aws.states()) == 3

    # Without decrement, the group launches a replacement at once: the waiting instance no longer counts.
    aws.asg.terminate_instance_in_auto_scaling_group(InstanceId=ids[1], ShouldDecrementDesiredCapacity=False)
    states = aws.states()
    assert aws.waiting() == sorted(ids[1:]) and aws.group()["DesiredCapacity"] == 2
    assert sorted(states.values()).count("InService") == 2 and len(states) == 4
    assert [e["detail"]["EC2InstanceId"] for e in aws.emu.events] == [ids[2], ids[1]]


def test_heartbeat_extends_the_wait_by_token_or_instance_id(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE], desired=2)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=0)
    token = {a["instance_id"]: a["token"] for a in aws.emu.lifecycle_actions()}[ids[0]]

    aws.clock.advance(25)
    aws.heartbeat(LifecycleActionToken=token)
    aws.heartbeat(InstanceId=ids[1])
    aws.clock.advance(25)  # 50 s: past the original 30 s deadline
    assert aws.waiting() == sorted(ids)
    actions = {a["instance_id"]: a for a in aws.emu.lifecycle_actions()}
    assert actions[ids[0]]["heartbeats"] == 1 and actions[ids[0]]["heartbeat_deadline"] == START + 55
    assert [(h["what"], h["by"]) for h in aws.emu.history() if h["what"] == "heartbeat"] == [
        ("heartbeat", "token"),
        ("heartbeat", "instance"),
    ]

    aws.clock.advance(6)  # 56 s: the extended deadline passed too
    assert aws.waiting() == []


def test_complete_continue_by_token_and_by_instance_id_terminates(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE])
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)
    token = {a["instance_id"]: a["token"] for a in aws.emu.lifecycle_actions()}[ids[0]]

    aws.complete(LifecycleActionToken=token)
    aws.complete(InstanceId=ids[1])
    assert list(aws.states()) == [ids[2]] and aws.group()["DesiredCapacity"] == 1
    assert aws.ec2_state(ids[0]) == aws.ec2_state(ids[1]) == "terminated"
    assert aws.emu.lifecycle_actions() == []
    assert [(h["instance_id"], h["what"], h["result"], h["by"]) for h in aws.emu.history()][2:] == [
        (ids[0], "complete", "CONTINUE", "token"),
        (ids[0], "terminated", "CONTINUE", "token"),
        (ids[1], "complete", "CONTINUE", "instance"),
        (ids[1], "terminated", "CONTINUE", "instance"),
    ]

    with pytest.raises(ClientError) as err:
        aws.complete(LifecycleActionToken=token)
    _no_active(err, f"No active Lifecycle Action found with token {token}")
    with pytest.raises(ClientError) as err:
        aws.complete(InstanceId=ids[1])
    _no_active(err, f"No active Lifecycle Action found with instance ID {ids[1]}")
    with pytest.raises(ClientError) as err:
        aws.heartbeat(InstanceId=ids[1])
    _no_active(err, f"No active Lifecycle Action found with instance ID {ids[1]}")
    with pytest.raises(ClientError) as err:  # an InService instance has no action either
        aws.heartbeat(InstanceId=ids[2])
    _no_active(err, f"No active Lifecycle Action found with instance ID {ids[2]}")


def test_timeout_applies_the_default_result_and_abandon_is_the_default(aws: Aws) -> None:
    aws.make_group(hooks=[GATE], desired=1)
    aws.make_group("other", hooks=[{"LifecycleHookName": "gate", "HeartbeatTimeout": 30}], desired=1)
    hooks = aws.asg.describe_lifecycle_hooks(AutoScalingGroupName="other")["LifecycleHooks"]
    assert hooks[0]["DefaultResult"] == "ABANDON"
    for name in ("agents", "other"):
        aws.asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)

    aws.clock.advance(29)
    assert len(aws.waiting()) == len(aws.waiting("other")) == 1
    aws.clock.advance(1)
    assert aws.states() == {} and aws.states("other") == {}
    timeouts = [(h["group"], h["result"], h["by"]) for h in aws.emu.history() if h["what"] == "timeout"]
    assert sorted(timeouts) == [("agents", "CONTINUE", "timeout"), ("other", "ABANDON", "timeout")]
    with pytest.raises(ClientError) as err:
        aws.complete(InstanceId=aws.emu.history()[0]["instance_id"])
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_global_timeout_caps_heartbeats(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE], desired=1)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=0)
    for _ in range(119):  # 2975 s of heartbeats every 25 s
        aws.clock.advance(25)
        aws.heartbeat(InstanceId=ids[0])
    aws.clock.advance(20)
    aws.heartbeat(InstanceId=ids[0])  # would reach 3025 s, capped at the 3000 s global timeout
    assert aws.emu.lifecycle_actions()[0]["heartbeat_deadline"] == START + 3000
    aws.clock.advance(4)
    assert aws.waiting() == ids
    aws.clock.advance(1)
    assert aws.states() == {}
    assert aws.emu.history()[-2]["what"] == "timeout"


def test_all_hooks_must_complete_and_abandon_ends_the_others(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE, ECS], desired=2)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=0)
    assert len(aws.messages()) == 4
    assert sorted((e["detail"]["EC2InstanceId"], e["detail"]["LifecycleHookName"]) for e in aws.emu.events) == sorted(
        (i, h) for i in ids for h in ("gate", ECS_HOOK)
    )
    assert all("NotificationMetadata" not in e["detail"] for e in aws.emu.events)

    aws.complete(InstanceId=ids[0])
    assert aws.waiting() == sorted(ids)  # the ECS hook still holds it
    aws.complete(hook=ECS_HOOK, InstanceId=ids[0])
    assert ids[0] not in aws.states()

    aws.complete("ABANDON", InstanceId=ids[1])  # ABANDON terminates without waiting for the other hook
    assert aws.states() == {} and aws.ec2_state(ids[1]) == "terminated"
    with pytest.raises(ClientError) as err:
        aws.complete(hook=ECS_HOOK, InstanceId=ids[1])
    _no_active(err, f"No active Lifecycle Action found with instance ID {ids[1]}")


def test_abandon_with_retention_keeps_the_instance(aws: Aws) -> None:
    policy = {"RetentionTriggers": {"TerminateHookAbandon": "retain"}}
    ids = aws.make_group(hooks=[GATE], InstanceLifecyclePolicy=policy)
    assert aws.group()["InstanceLifecyclePolicy"] == policy
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=2)
    aws.complete("ABANDON", InstanceId=ids[0])
    states = aws.states()
    assert states[ids[0]] == "Terminating:Retained" and aws.ec2_state(ids[0]) == "running"
    assert sorted(states.values()) == ["InService", "InService", "Terminating:Retained"]  # not replaced

    aws.asg.terminate_instance_in_auto_scaling_group(InstanceId=ids[0], ShouldDecrementDesiredCapacity=False)
    assert ids[0] not in aws.states() and aws.ec2_state(ids[0]) == "terminated"


def test_lifecycle_hook_specification_list_and_delete_hook_continues(aws: Aws) -> None:
    ids = aws.make_group(
        desired=1,
        LifecycleHookSpecificationList=[{**GATE, "LifecycleTransition": TERMINATING, "DefaultResult": "ABANDON"}],
    )
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=0)
    assert aws.waiting() == ids
    aws.asg.delete_lifecycle_hook(AutoScalingGroupName="agents", LifecycleHookName="gate")
    assert aws.states() == {}
    assert [(h["what"], h["result"], h["by"]) for h in aws.emu.history()][1] == ("complete", "CONTINUE", "delete-hook")


def test_group_without_terminating_hook_keeps_motos_behaviour(aws: Aws) -> None:
    ids = aws.make_group(hooks=[{**GATE, "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}])
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)
    assert list(aws.states().values()) == ["InService"]
    assert sorted(aws.ec2_state(i) for i in ids) == ["running", "terminated", "terminated"]
    assert aws.emu.events == [] and aws.messages() == [] and aws.emu.lifecycle_actions() == []


def test_delete_group_drops_its_actions_and_hooks(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE], desired=2)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=1)
    aws.asg.delete_auto_scaling_group(AutoScalingGroupName="agents", ForceDelete=True)
    assert aws.emu.lifecycle_actions() == []
    assert sorted(aws.ec2_state(i) for i in ids) == ["terminated", "terminated"]
    aws.make_group(desired=1)
    assert aws.asg.describe_lifecycle_hooks(AutoScalingGroupName="agents")["LifecycleHooks"] == []


def test_timer_thread_expires_on_a_scaled_clock_without_requests() -> None:
    with AwsEmulator(clock=ScaledClock(speed=1000), timer_interval=0.02) as emu:
        c = _clients(emu)
        c["ec2"].create_launch_template(
            LaunchTemplateName="agent-lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )
        c["autoscaling"].create_auto_scaling_group(
            AutoScalingGroupName="agents",
            LaunchTemplate={"LaunchTemplateName": "agent-lt"},
            MinSize=0,
            MaxSize=1,
            DesiredCapacity=1,
            AvailabilityZones=["us-east-1a"],
        )
        c["autoscaling"].put_lifecycle_hook(
            AutoScalingGroupName="agents", LifecycleTransition=TERMINATING, **GATE
        )  # 30 s = 30 ms of wall time
        c["autoscaling"].set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(h["what"] == "timeout" for h in emu.history()):
            time.sleep(0.02)
        assert [h["what"] for h in emu.history()] == ["wait", "timeout", "terminated"]


def test_only_one_emulator_runs_per_process(aws: Aws) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        AwsEmulator().start()
    aws.make_group(hooks=[GATE], desired=1)  # the running one is unharmed
    assert len(aws.states()) == 1


def test_sequential_emulators_start_clean() -> None:
    for _ in range(2):
        with AwsEmulator() as emu:
            c = _clients(emu)
            assert c["autoscaling"].describe_auto_scaling_groups()["AutoScalingGroups"] == []
            c["ec2"].create_launch_template(
                LaunchTemplateName="agent-lt",
                LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
            )
            c["autoscaling"].create_auto_scaling_group(
                AutoScalingGroupName="agents",
                LaunchTemplate={"LaunchTemplateName": "agent-lt"},
                MinSize=0,
                MaxSize=1,
                AvailabilityZones=["us-east-1a"],
            )


def test_ec2_terminate_instances_on_a_waiting_instance_ends_its_action(aws: Aws) -> None:
    ids = aws.make_group(hooks=[GATE], desired=1)
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=0)
    aws.ec2.terminate_instances(InstanceIds=ids)
    assert aws.states() == {} and aws.emu.lifecycle_actions() == []
    assert aws.emu.history()[-1] | {"time": 0} == {
        "time": 0,
        "instance_id": ids[0],
        "group": "agents",
        "hook": "gate",
        "what": "terminated",
        "result": None,
        "by": "external",
    }


def test_port_in_use_fails_fast_and_frees_the_slot() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError, match="cannot serve"):
            AwsEmulator(port=busy.getsockname()[1]).start()
    with AwsEmulator() as emu:
        assert emu.endpoint.startswith("http://127.0.0.1:")


# --- EventBridge routing (emulator/eventbridge.py) ----------------------------------------------------------

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:gate"


def test_lifecycle_events_reach_only_rules_whose_pattern_matches_and_lambda_targets_get_them(aws: Aws) -> None:
    got: list[dict[str, Any]] = []
    aws.emu.targets.register(FUNCTION_ARN, got.append)
    aws.events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    aws.events.put_targets(Rule="tick", Targets=[{"Id": "gate", "Arn": FUNCTION_ARN}])
    other = {"source": ["aws.autoscaling"], "detail-type": [DETAIL_TYPE], "detail": {"LifecycleHookName": ["other"]}}
    aws.events.put_rule(Name="other-hook", EventPattern=json.dumps(other))
    aws.events.put_targets(Rule="other-hook", Targets=[{"Id": "gate", "Arn": FUNCTION_ARN}])
    ours = {"source": ["aws.autoscaling"], "detail": {"LifecycleHookName": ["gate"]}}
    aws.events.put_rule(Name="ours", EventPattern=json.dumps(ours))
    aws.events.put_targets(Rule="ours", Targets=[{"Id": "gate", "Arn": f"{FUNCTION_ARN}:$LATEST"}])
    aws.events.put_rule(Name="ours-disabled", EventPattern=json.dumps(ours), State="DISABLED")
    aws.events.put_targets(Rule="ours-disabled", Targets=[{"Id": "gate", "Arn": FUNCTION_ARN}])

    ids = aws.make_group(hooks=[GATE])
    aws.asg.set_desired_capacity(AutoScalingGroupName="agents", DesiredCapacity=2)

    # Only "ours": not the schedule-only tick rule, not the other hook's rule, not the disabled one.
    assert [e["detail"]["EC2InstanceId"] for e in got] == [ids[0]]
    assert got[0]["detail-type"] == DETAIL_TYPE and got[0]["time"].endswith("Z") and got[0]["account"]
    # The SQS target of the fixture's rule still gets it through moto's own delivery.
    assert [m["detail"]["EC2InstanceId"] for m in aws.messages()] == [ids[0]]


def test_scheduler_fires_enabled_rate_rules_to_their_lambda_targets(aws: Aws) -> None:
    from emulator.eventbridge import Scheduler, rate_seconds

    assert (rate_seconds("rate(1 minute)"), rate_seconds("rate(5 minutes)"), rate_seconds("cron(0 * * * ? *)")) == (
        60,
        300,
        None,
    )
    got: list[dict[str, Any]] = []
    aws.emu.targets.register(FUNCTION_ARN, got.append)
    aws.events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    aws.events.put_targets(Rule="tick", Targets=[{"Id": "gate", "Arn": FUNCTION_ARN}])
    aws.events.put_rule(Name="slow", ScheduleExpression="rate(10 minutes)", State="DISABLED")
    aws.events.put_targets(Rule="slow", Targets=[{"Id": "gate", "Arn": FUNCTION_ARN}])
    now = [START]
    scheduler = Scheduler(aws.emu.account_id, "us-east-1", aws.emu.targets, speedup=6, clock=lambda: now[0])
    for step in range(7):  # rate(1 minute) at speedup 6: every 10 s, the first one period after creation
        now[0] = START + step * 5
        scheduler.fire_due()
    assert [name for name, _ in scheduler.fired] == ["tick", "tick", "tick"]
    assert len(got) == 3
    assert got[0]["detail-type"] == "Scheduled Event" and got[0]["source"] == "aws.events"
    assert got[0]["resources"] == [aws.events.describe_rule(Name="tick")["Arn"]]
