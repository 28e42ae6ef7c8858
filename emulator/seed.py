"""`gate emulator --seed`: a world to try `status`, `check`, `replay` and `outcomes` on by hand.

A hooked group of four instances with one agent each (two of them running a long build), scaled in to two so that
one busy and one idle instance wait in `Terminating:Wait`. The instance ids are fixed (moto's id generator is
replaced while the group launches), so they are the same on every run and with every moto extra installed: the
sample events in `examples/events/` name them, and the README's lines work as written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from emulator.aws import AwsEmulator
from emulator.azure_devops import FakeAzureDevOps
from emulator.sandbox import DEFAULT_HOOK, Sandbox

# busy and waiting, idle and waiting, busy in service, idle in service (the order the group launches them in)
INSTANCE_IDS = ("i-d272e6e5e030ff84a", "i-a9a5d904509be3a62", "i-ee4a30ead2c5aa2c9", "i-19a88e73b6963d340")
GROUP, POOL = "ci-agents", "linux-agents"
HEARTBEAT_TIMEOUT = 3600  # AWS's default: nothing times out while someone reads the README
BUILD_SECONDS = 4 * 3600
REGION = "us-east-1"


@dataclass(frozen=True)
class Seeded:
    group: str
    hook: str
    pool: str
    busy_waiting: str  # scaled in, its agent runs a build: the gate must hold it
    idle_waiting: str  # scaled in, idle: the gate may release it (after draining)
    busy_in_service: str  # protected from scale-in, runs a build
    idle_in_service: str  # protected from scale-in, idle

    def exports(self, aws_endpoint: str, azure_url: str, pat: str) -> list[str]:
        """The lines a shell needs to point `gate` at this world (dummy AWS credentials: the emulator takes any)."""
        return [
            f"export AWS_ENDPOINT_URL={aws_endpoint} AWS_DEFAULT_REGION={REGION}",
            "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
            f"export GATE_AZURE_ORG_URL={azure_url} GATE_PAT={pat}",
            f"export GATE_GROUPS={self.group} GATE_HOOK_NAME={self.hook} GATE_POOLS={self.pool}",
        ]


def seed(aws: AwsEmulator, ado: FakeAzureDevOps, timeout: float = 20) -> Seeded:
    """Build the world on running servers (this process's). Raises RuntimeError if the scale-in does not happen."""
    from moto.ec2.models import instances as moto_instances

    sandbox = Sandbox(aws.clock, aws_endpoint=aws.endpoint, azure_url=ado.url, region=REGION).start()
    sandbox.ado = ado
    fixed = iter(INSTANCE_IDS)
    generator = "random_instance_id"  # what moto's Instance() calls for its id
    original = getattr(moto_instances, generator)
    setattr(moto_instances, generator, lambda: next(fixed))
    try:
        group = sandbox.create_group(
            GROUP, len(INSTANCE_IDS), hook=DEFAULT_HOOK, heartbeat_timeout=HEARTBEAT_TIMEOUT, pool=POOL
        )
    finally:
        setattr(moto_instances, generator, original)
    if sorted(group.instances) != sorted(INSTANCE_IDS):
        raise RuntimeError(f"the seeded group launched {group.instances}, not {INSTANCE_IDS}")
    busy_waiting, idle_waiting, busy_in_service, idle_in_service = INSTANCE_IDS
    for iid in (busy_waiting, busy_in_service):
        ado.start_build(group.agents[iid], BUILD_SECONDS)
    sandbox.client("autoscaling").set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[busy_in_service, idle_in_service], ProtectedFromScaleIn=True
    )
    sandbox.scale_to(GROUP, 2)
    deadline = time.monotonic() + timeout
    while True:
        states = sandbox.lifecycle_states(GROUP)
        if states.get(busy_waiting) == states.get(idle_waiting) == "Terminating:Wait":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the seeded scale-in did not happen: {states}")
        time.sleep(0.1)
    return Seeded(GROUP, DEFAULT_HOOK, POOL, busy_waiting, idle_waiting, busy_in_service, idle_in_service)


SECRET_NAME = "gate/pat"  # the Secrets Manager secret `--seed-unhooked` creates (JSON {"pat": ...})


@dataclass(frozen=True)
class Unhooked:
    """`gate emulator --seed-unhooked`: what `terraform apply` of the module needs, and the ids to watch."""

    group: str
    pool: str
    busy: str  # runs a long build: the gate must hold it once scaled in
    idle: str  # idle: released once drained
    protected: str  # protected from scale-in: stays
    secret_arn: str

    def describe(self, aws_endpoint: str, azure_url: str, pat: str) -> list[str]:
        return [
            f"seeded for the module: group {self.group} (no hook yet), pool {self.pool}; {self.busy} (busy), "
            f"{self.idle} (idle), {self.protected} (protected); PAT secret {self.secret_arn}",
            "in another shell:",
            f"  export AWS_ENDPOINT_URL={aws_endpoint} AWS_DEFAULT_REGION={REGION}",
            "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true",
            f"  export TF_VAR_region={REGION} TF_VAR_autoscaling_group_name={self.group} "
            f"TF_VAR_pools='[\"{self.pool}\"]'",
            f"  export TF_VAR_azure_org_url={azure_url} TF_VAR_pat_secret_arn={self.secret_arn}",
            f"  export GATE_AZURE_ORG_URL={azure_url} GATE_PAT={pat}",
            f"  export GATE_GROUPS={self.group} GATE_HOOK_NAME={DEFAULT_HOOK} GATE_POOLS={self.pool}",
        ]


def seed_unhooked(aws: AwsEmulator, ado: FakeAzureDevOps, pat: str) -> Unhooked:
    """A group of three instances (fixed ids) with one agent each and no lifecycle hook (the module adds it), a
    long build on the first, scale-in protection on the third, and the PAT in Secrets Manager."""
    import json

    from moto.ec2.models import instances as moto_instances

    sandbox = Sandbox(aws.clock, aws_endpoint=aws.endpoint, azure_url=ado.url, region=REGION).start()
    sandbox.ado = ado
    fixed = iter(INSTANCE_IDS[:3])
    generator = "random_instance_id"
    original = getattr(moto_instances, generator)
    setattr(moto_instances, generator, lambda: next(fixed))
    try:
        group = sandbox.create_group(GROUP, 3, pool=POOL, with_hook=False)
    finally:
        setattr(moto_instances, generator, original)
    busy, idle, protected = INSTANCE_IDS[:3]
    ado.start_build(group.agents[busy], BUILD_SECONDS)
    sandbox.client("autoscaling").set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[protected], ProtectedFromScaleIn=True
    )
    secret = sandbox.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=json.dumps({"pat": pat}))
    return Unhooked(GROUP, POOL, busy, idle, protected, secret["ARN"])
