"""`python -m emulator.gitlab --seed`: a runner per instance of a seeded group, read from the AWS emulator, so the
hand tour of `gate emulator --seed` can be taken with GitLab (README, "Try it by hand")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.ec2.models.amis import AMIS

from emulator.gitlab import SEED_JOB_SECONDS, FakeGitLab, seed_runners
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(clock) as sb:
        yield sb


def test_each_instance_gets_a_runner_named_after_it_and_the_busy_ones_a_job(
    sandbox: Sandbox, gitlab: FakeGitLab
) -> None:
    group = sandbox.create_group("ci-agents", 3, agents=False, image_id=AMIS[0]["ami_id"])
    busy = group.instances[0]
    runners = seed_runners(gitlab, sandbox.client("autoscaling"), sandbox.client("ec2"), "ci-agents", [busy])
    assert set(runners) == set(group.instances)
    ips = {
        i["InstanceId"]: i["PrivateIpAddress"]
        for r in sandbox.client("ec2").describe_instances(InstanceIds=group.instances)["Reservations"]
        for i in r["Instances"]
    }
    for iid, rid in runners.items():
        runner = gitlab.runner(rid)
        assert runner["description"] == f"ci-{iid}" and runner["ip_address"] == ips[iid] and runner["online"]
    [job] = gitlab.jobs()
    assert job["runner_id"] == runners[busy] and job["ends_at"] - job["started_at"] == SEED_JOB_SECONDS
    with pytest.raises(LookupError, match="no Auto Scaling group"):
        seed_runners(gitlab, sandbox.client("autoscaling"), sandbox.client("ec2"), "nope")
