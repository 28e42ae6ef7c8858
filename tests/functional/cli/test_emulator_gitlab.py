"""`gate emulator --seed --gitlab-port 0`: the hand tour with GitLab runners. The seeded instances get a runner each
in a fake GitLab (the two busy ones a running job), and the printed exports point `gate check` at it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest

from emulator.seed import INSTANCE_IDS
from tests.functional.cli.conftest import emulator_process, run_process


@pytest.fixture(scope="module")
def banner() -> Iterator[str]:
    with emulator_process("--seed", "--aws-port", "0", "--azure-port", "0", "--gitlab-port", "0") as (_, text):
        yield text


def test_the_seeded_instances_have_runners_and_the_exports_reach_them(banner: str) -> None:
    aws = re.search(r"AWS emulator:\s+(http://127\.0\.0\.1:\d+)", banner)
    gitlab = re.search(r"export GATE_AGENT_SYSTEM=gitlab GATE_GITLAB_URL=(\S+) GATE_GITLAB_TOKEN=(\S+)", banner)
    assert aws and gitlab and "fake GitLab:" in banner, banner
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "AWS_"))}
    env |= {
        "AWS_ENDPOINT_URL": aws.group(1),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "GATE_GROUPS": "ci-agents",
        "GATE_HOOK_NAME": "asg-termination-gate",
        "GATE_AGENT_SYSTEM": "gitlab",
        "GATE_GITLAB_URL": gitlab.group(1),
        "GATE_GITLAB_TOKEN": gitlab.group(2),
    }
    busy, idle = INSTANCE_IDS[0], INSTANCE_IDS[1]
    for instance, running in ((busy, True), (idle, False)):
        result = run_process("check", instance, "--json", env=env)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert [a["name"] for a in data["agents"]] == [f"ci-{instance}"]
        assert data["busy"] is running and data["decision"] == "held"  # first the runner is paused
    assert gitlab.group(2) not in result.stdout + result.stderr
