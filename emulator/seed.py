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
