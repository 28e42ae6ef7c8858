"""A whole local world: the AWS emulator, the fake Azure DevOps, a hooked group with agents, and the event pipe.

EventBridge delivers lifecycle events to an SQS queue here (a rule with an SQS target, as moto routes them);
`receive_events()` drains it so a driver can invoke the real handler with each, the way EventBridge invokes the
Lambda. The e2e tests, `gate simulate` and `gate bench` all build on this, so the wiring exists once.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from emulator.aws import AwsEmulator
from emulator.azure_devops import FakeAzureDevOps
from gate.adapters.logs import DecisionLog
from gate.bootstrap import build_gate
from gate.domain.clock import Clock, SystemClock
from gate.service.triggers import Gate
from gate.settings import Settings, load_settings

PAT = "sandbox-pat-0123456789abcdef"
DEFAULT_HOOK = "asg-termination-gate"  # the Terraform module's default hook name, and GATE_HOOK_NAME's
RULE = "gate-lifecycle-events"
QUEUE = "gate-lifecycle-events"


@dataclass
class Group:
    name: str
    hook: str
    pool: str
    instances: list[str] = field(default_factory=list)
    agents: dict[str, int] = field(default_factory=dict)  # instance id -> agent id


_LOADER: Any = None  # botocore's service-model loader, shared by every sandbox of the process


def _botocore_session() -> Any:
    """A fresh botocore session sharing one service-model loader: a new world then costs its clients, not re-reading
    botocore's JSON models (about 0.25 s per service on a loaded machine)."""
    global _LOADER
    session = botocore.session.get_session()
    if _LOADER is None:
        _LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _LOADER)
    return session


_IMAGES: dict[str, str] = {}  # region -> an AMI id moto knows (the same in every new backend: its built-in list)


def _image_id(ec2: Any) -> str:
    """One AMI id, looked up once per process: listing every AMI moto knows costs seconds per call (thousands of
    images, parsed as XML), and every test world creates a group."""
    region = ec2.meta.region_name
    if region not in _IMAGES:
        _IMAGES[region] = ec2.describe_images()["Images"][0]["ImageId"]
    return _IMAGES[region]


class Sandbox:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        aws_endpoint: str | None = None,
        azure_url: str | None = None,
        region: str = "us-east-1",
        page_size: int = 1000,
    ) -> None:
        self.clock = clock or SystemClock()
        self.region = region
        self.emulator: AwsEmulator | None = None
        self.ado: FakeAzureDevOps | None = None
        self._aws_endpoint = aws_endpoint
        self._azure_url = azure_url
        self._page_size = page_size
        self.groups: dict[str, Group] = {}
        self.log = DecisionLog()
        self._queue_url: str | None = None
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._aws_endpoint is None:
            self.emulator = AwsEmulator(clock=self.clock, region=self.region).start()
        if self._azure_url is None:
            self.ado = FakeAzureDevOps(clock=self.clock, pat=PAT, page_size=self._page_size).start()
        self._clients: dict[tuple[str, str], Any] = {}
        self.session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=self.region,
            botocore_session=_botocore_session(),
        )
        return self

    def stop(self) -> None:
        for server in (self.ado, self.emulator):
            if server is not None:
                server.stop()

    def reset(self, clock: Clock | None = None, *, ado_clock: Clock | None = None, pat: str | None = PAT) -> None:
        """Empty both servers for the next world (AWS: a fresh account; Azure DevOps: no pools), on a new clock if
        given: the chaos simulation (chaos) starts its servers once per worker and runs thousands of worlds."""
        if clock is not None:
            self.clock = clock
        if self.emulator is not None:
            self.emulator.faults.clear()
            self.emulator.faults.calls.clear()
            self.emulator.clock = self.clock
            self.emulator.reset()
        if self.ado is not None:
            self.ado.reset(pat=pat, clock=ado_clock or self.clock)
        self.groups.clear()
        self.log = DecisionLog()
        self._queue_url = None  # the reset account has no queue or rule: the next group creates them again

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def aws_endpoint(self) -> str:
        if self._aws_endpoint:
            return self._aws_endpoint
        assert self.emulator is not None
        return self.emulator.endpoint

    @property
    def azure_url(self) -> str:
        if self._azure_url:
            return self._azure_url
        assert self.ado is not None
        return self.ado.url

    def client(self, service: str) -> Any:
        """One client per service and endpoint, kept (making one costs ~0.25 s; botocore clients are thread-safe).
        The harness's own calls must outlast the faults tests inject into the emulator (up to 3 in a row)."""
        key = (service, self.aws_endpoint)
        if key not in self._clients:
            config = Config(retries={"max_attempts": 8, "mode": "standard"})
            self._clients[key] = self.session.client(service, endpoint_url=self.aws_endpoint, config=config)  # type: ignore[call-overload]
        return self._clients[key]

    # -- world building ---------------------------------------------------------------------------------
    def create_group(
        self,
        name: str = "ci-agents",
        size: int = 3,
        *,
        hook: str = DEFAULT_HOOK,
        heartbeat_timeout: int = 300,
        default_result: str = "ABANDON",
        pool: str = "linux-agents",
        agents: bool = True,
        with_hook: bool = True,
        retain_on_abandon: bool = False,
        image_id: str | None = None,
    ) -> Group:
        """An ASG of `size` running instances, a terminating hook, and one agent per instance named after it.
        `image_id`: skip listing every AMI moto knows (about 2 s) when the caller knows one."""
        ec2, asg = self.client("ec2"), self.client("autoscaling")
        image = image_id or _image_id(ec2)
        ec2.create_launch_template(
            LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.medium"}
        )
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
            MinSize=0,
            MaxSize=max(size * 2, 1),
            DesiredCapacity=size,
            AvailabilityZones=[f"{self.region}a"],
            **(
                {"InstanceLifecyclePolicy": {"RetentionTriggers": {"TerminateHookAbandon": "retain"}}}
                if retain_on_abandon
                else {}
            ),
        )
        if with_hook:
            asg.put_lifecycle_hook(
                AutoScalingGroupName=name,
                LifecycleHookName=hook,
                LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                HeartbeatTimeout=heartbeat_timeout,
                DefaultResult=default_result,
            )
        self._ensure_event_pipe()
        group = Group(name, hook, pool)
        self.groups[name] = group
        group.instances = self.instance_ids(name)
        if agents and self.ado is not None:
            existing = {p["name"] for p in self.ado_state().get("pools", [])}
            if pool not in existing:
                self.ado.add_pool(pool)
            for iid in group.instances:
                group.agents[iid] = self.ado.add_agent(
                    pool, f"agent-{iid}", capabilities={"AWS_INSTANCE_ID": iid}, computer_name=f"ip-{iid[2:10]}"
                )
        return group

    def agents_die_with_instances(self) -> None:
        """From now on a terminated instance takes its agent with it: the fake Azure DevOps sees the agent vanish and
        fails a build it was running with the agent-lost message (what `gate audit` reads). Off by default: other
        worlds keep the agent system unaware of AWS, as their accounting expects."""
        assert self.emulator is not None and self.ado is not None
        ado = self.ado

        def gone(group: str, instance_id: str) -> None:
            agent = self.groups[group].agents.get(instance_id) if group in self.groups else None
            if agent is not None:
                with contextlib.suppress(KeyError):  # the gate deleted the registration before the instance went
                    ado.lose_agent(agent)

        self.emulator.on_terminated.append(gone)

    def ado_state(self) -> dict[str, Any]:
        import requests

        base = self.azure_url.rsplit("/", 1)[0]
        result: dict[str, Any] = requests.get(f"{base}/_fake/state", timeout=10).json()
        return result

    def _ensure_event_pipe(self) -> None:
        if self._queue_url is not None:
            return
        sqs, events = self.client("sqs"), self.client("events")
        self._queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name=RULE,
            EventPattern=json.dumps(
                {"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance-terminate Lifecycle Action"]}
            ),
        )
        events.put_targets(Rule=RULE, Targets=[{"Id": "gate", "Arn": arn}])

    def instance_ids(self, group: str, states: tuple[str, ...] | None = None) -> list[str]:
        resp = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        return [
            i["InstanceId"]
            for g in resp["AutoScalingGroups"]
            for i in g["Instances"]
            if states is None or i["LifecycleState"] in states
        ]

    def lifecycle_states(self, group: str) -> dict[str, str]:
        resp = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        return {i["InstanceId"]: i["LifecycleState"] for g in resp["AutoScalingGroups"] for i in g["Instances"]}

    def scale_to(self, group: str, desired: int) -> None:
        self.client("autoscaling").set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=desired)

    # -- warm pools (emulator.aws keeps the instances; AWS calls over HTTP where they exist) ---------------------
    def warm_instances(self, group: str, n: int, pool_state: str = "Running", *, agents: bool = False) -> list[str]:
        """`n` instances in the group's warm pool (PutWarmPool with `pool_state` first when it has none), with an
        agent registered for each when `agents` (a Running pool runs its user data). Returns their ids."""
        assert self.emulator is not None, "warm pools need the in-process AWS emulator"
        asg = self.client("autoscaling")
        listed = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        if not listed or not listed[0].get("WarmPoolConfiguration"):
            asg.put_warm_pool(AutoScalingGroupName=group, PoolState=pool_state)
        ids = self.emulator.warm_instances(group, n, pool_state)
        known = self.groups.get(group)
        if agents and known is not None and self.ado is not None:
            for iid in ids:
                known.agents[iid] = self.ado.add_agent(
                    known.pool, f"agent-{iid}", capabilities={"AWS_INSTANCE_ID": iid}, computer_name=f"ip-{iid[2:10]}"
                )
        return ids

    def terminate_from_warm_pool(self, group: str, instance_id: str) -> None:
        """The instance leaves the warm pool to be terminated (through the group's terminating hooks)."""
        assert self.emulator is not None, "warm pools need the in-process AWS emulator"
        self.emulator.terminate_from_warm_pool(group, instance_id)

    def warm_pool(self, group: str) -> dict[str, str]:
        """{instance id: lifecycle state} as DescribeWarmPool lists them (all pages)."""
        pages = self.client("autoscaling").get_paginator("describe_warm_pool").paginate(AutoScalingGroupName=group)
        return {i["InstanceId"]: i["LifecycleState"] for page in pages for i in page.get("Instances", [])}

    # -- ECS (emulator.ecs adds what moto lacks) ---------------------------------------------------
    def create_ecs_cluster(self, cluster: str = "agents", group: str | None = None) -> dict[str, str]:
        """A cluster with a container instance registered for every instance of the group (EC2 id from the
        instance identity document, as the ECS agent sends it). Returns instance id -> container instance ARN."""
        from emulator import ecs as ecs_emulator

        ecs_emulator.install()
        client = self.client("ecs")
        client.create_cluster(clusterName=cluster)
        arns: dict[str, str] = {}
        for iid in self.instance_ids(group or next(iter(self.groups))):
            document = json.dumps({"instanceId": iid, "region": self.region})
            ci = client.register_container_instance(cluster=cluster, instanceIdentityDocument=document)
            arns[iid] = ci["containerInstance"]["containerInstanceArn"]
        return arns

    def start_ecs_task(self, cluster: str, container_instance_arn: str, group: str, family: str = "work") -> str:
        """Place one task on the container instance (StartTask); `group` is e.g. `service:web` or `family:x`."""
        client = self.client("ecs")
        client.register_task_definition(
            family=family, containerDefinitions=[{"name": family, "image": "busybox", "memory": 64}]
        )
        resp = client.start_task(
            cluster=cluster, taskDefinition=family, containerInstances=[container_instance_arn], group=group
        )
        arn: str = resp["tasks"][0]["taskArn"]
        return arn

    def container_instance_status(self, cluster: str, arn: str) -> str:
        resp = self.client("ecs").describe_container_instances(cluster=cluster, containerInstances=[arn])
        status: str = resp["containerInstances"][0]["status"]
        return status

    # -- the gate ---------------------------------------------------------------------------------------
    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "azure_org_url": self.azure_url,
            "pools": sorted({g.pool for g in self.groups.values()}) or ["linux-agents"],
            "groups": sorted(self.groups) or ["ci-agents"],
            "hook_name": next(iter(self.groups.values())).hook if self.groups else DEFAULT_HOOK,
            "pat": PAT,
        }
        values.update(overrides)
        return load_settings(**values)

    def gate(self, settings: Settings | None = None, log: DecisionLog | None = None) -> Gate:
        return build_gate(
            settings or self.settings(),
            aws_endpoint=self.aws_endpoint,
            clock=self.clock,
            log=log or self.log,
            region=self.region,
            session=self.session,
        )

    def receive_events(self, wait: float = 0) -> list[dict[str, Any]]:
        """Lifecycle events EventBridge routed to the queue since the last call (deleted once read)."""
        assert self._queue_url is not None
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            resp = sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(wait) if not out else 0
            )
            msgs = resp.get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=m["ReceiptHandle"])
