"""Real processes: `gate emulator` in the foreground (ports 0: it prints the real ones), used with boto3 and the
fake's control API, then by a second process, `gate simulate --aws-endpoint ... --azure-url ...`; SIGTERM stops it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
import requests

from tests.functional.cli.conftest import check_output, emulator_process, gate, one_line_error, run_process

SPEED = 40


@dataclass
class Emulator:
    proc: subprocess.Popen[str]
    aws: str
    azure: str
    banner: str


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with emulator_process("--aws-port", "0", "--azure-port", "0", "--speed", str(SPEED), ready=False) as started:
        proc, banner = started
        aws = re.search(r"AWS emulator:\s+(http://127\.0\.0\.1:\d+)", banner)
        azure = re.search(r"fake Azure DevOps:\s+(http://127\.0\.0\.1:\d+/\w+)", banner)
        assert aws and azure, banner
        yield Emulator(proc, aws.group(1), azure.group(1), banner)


def test_emulator_serves_aws_and_the_fake_azure_devops(emulator: Emulator) -> None:
    assert ":0" not in emulator.aws and ":0/" not in emulator.azure  # the real ports were printed
    assert f"export AWS_ENDPOINT_URL={emulator.aws}" in emulator.banner
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    ec2 = session.client("ec2", endpoint_url=emulator.aws)
    asg = session.client("autoscaling", endpoint_url=emulator.aws)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="manual-lt", LaunchTemplateData={"ImageId": image})
    asg.create_auto_scaling_group(
        AutoScalingGroupName="manual",
        LaunchTemplate={"LaunchTemplateName": "manual-lt"},
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
    )
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["manual"])["AutoScalingGroups"]
    assert len(groups[0]["Instances"]) == 2

    base = emulator.azure.rsplit("/", 1)[0]
    assert requests.post(f"{base}/_fake/pools", json={"name": "manual-pool"}, timeout=5).status_code == 201
    state = requests.get(f"{base}/_fake/state", timeout=5).json()
    assert [p["name"] for p in state["pools"]] == ["manual-pool"] and state["agents"] == []
    api = requests.get(f"{emulator.azure}/_apis/distributedtask/pools", auth=("", "local-pat"), timeout=5)
    assert api.status_code == 200 and api.json()["value"][0]["name"] == "manual-pool"


def test_simulate_process_against_the_running_emulator(emulator: Emulator) -> None:
    """The same scenario logic on servers that already run: scripted through /_fake/, clock aligned with theirs."""
    args = ["simulate", "--aws-endpoint", emulator.aws, "--azure-url", emulator.azure, "--speed", SPEED]
    proc = run_process(*args, "--instances", "2", "--build-minutes", "2", "--scale-at", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["builds"] == 1 and data["builds_killed"] == 0 and data["released"] == 1
    assert sorted(i["state"] for i in data["instances"]) == ["InService", "Terminated"]

    again = gate(*args)  # same group name on the same server
    one_line_error(again, "group ci-agents already exists", "--scenario")

    wrong_speed = gate("simulate", "--azure-url", emulator.azure, "--speed", "5")
    line = one_line_error(wrong_speed, "runs its clock at about", "but --speed is 5", "pass the --speed it was")
    measured = re.search(r"about (\d+)x", line)
    assert measured and 0.75 * SPEED <= int(measured.group(1)) <= 1.25 * SPEED


def test_emulator_port_in_use_is_one_line_exit_2(emulator: Emulator) -> None:
    port = emulator.aws.rsplit(":", 1)[1]
    proc = run_process("emulator", "--aws-port", port, "--azure-port", "0", timeout=60)
    assert proc.returncode == 2, proc
    assert proc.stderr.startswith("error: cannot start the emulator") and len(proc.stderr.splitlines()) == 1


def test_an_unknown_region_is_one_clear_error_and_breaks_nothing(emulator: Emulator) -> None:
    """`AWS_DEFAULT_REGION=us-east-9x` once made every later call fail and the log grow by a traceback per tick:
    now that call alone is refused by name, the next ones are served, and stderr stays empty (the SIGTERM test)."""
    from botocore.exceptions import ClientError

    def client(region: str) -> object:
        session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name=region)
        return session.client("autoscaling", endpoint_url=emulator.aws)

    for _ in range(3):
        with pytest.raises(ClientError) as refused:
            client("us-east-9x").describe_auto_scaling_groups()  # type: ignore[attr-defined]
        assert refused.value.response["Error"]["Code"] == "InvalidRegion"
        assert "us-east-9x" in refused.value.response["Error"]["Message"]
    settings = {"GATE_GROUPS": "manual", "GATE_HOOK_NAME": "h", "GATE_POOLS": "manual-pool", "GATE_PAT": "local-pat"}
    env = {"AWS_ENDPOINT_URL": emulator.aws, "AWS_DEFAULT_REGION": "us-east-9x", "GATE_AZURE_ORG_URL": emulator.azure}
    proc = run_process("status", env={**env, **settings, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"})
    assert proc.returncode != 0 and "us-east-9x" in proc.stderr and "Traceback" not in proc.stderr, proc
    assert client("us-east-1").describe_auto_scaling_groups()["AutoScalingGroups"]  # type: ignore[attr-defined]


def test_finish_build_ends_the_job_on_an_instances_agent(emulator: Emulator) -> None:
    base = emulator.azure.rsplit("/", 1)[0]
    requests.post(f"{base}/_fake/pools", json={"name": "finish-pool"}, timeout=5).raise_for_status()
    agent = requests.post(
        f"{base}/_fake/agents", json={"pool": "finish-pool", "name": "agent-i-0f1n15h"}, timeout=5
    ).json()["id"]
    build = requests.post(f"{base}/_fake/builds", json={"agent_id": agent, "duration": 3600}, timeout=5).json()["id"]

    done = gate("emulator", "finish-build", "i-0f1n15h", "--azure-url", emulator.azure)
    assert done.exit_code == 0, done
    assert f"finished job request {build} on i-0f1n15h (succeeded)" in done.stdout
    state = requests.get(f"{base}/_fake/state", timeout=5).json()
    [finished] = [b for b in state["builds"] if b["id"] == build]
    assert finished["result"] == "succeeded" and finished["finished_at"] is not None
    one_line_error(gate("emulator", "finish-build", "i-0f1n15h", "--azure-url", emulator.azure), "no job is running")
    one_line_error(gate("emulator", "finish-build", "i-nobody", "--azure-url", emulator.azure), "no agent of")


def test_seed_unhooked_builds_the_world_terraform_applies_to() -> None:
    """`gate emulator --seed-unhooked`: a group without the hook (the module adds it), agents, one busy, and the PAT
    secret; the export block names what `terraform apply` and `gate status` need."""
    with emulator_process("--aws-port", "0", "--azure-port", "0", "--seed-unhooked") as (proc, banner):
        aws = re.search(r"^  export AWS_ENDPOINT_URL=(\S+)", banner, re.MULTILINE)
        secret = re.search(r"TF_VAR_pat_secret_arn=(\S+)", banner)
        assert aws and secret and "TF_VAR_autoscaling_group_name=ci-agents" in banner, banner
        assert "GATE_HOOK_NAME=asg-termination-gate" in banner
        session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
        asg = session.client("autoscaling", endpoint_url=aws.group(1))
        assert asg.describe_lifecycle_hooks(AutoScalingGroupName="ci-agents")["LifecycleHooks"] == []
        value = session.client("secretsmanager", endpoint_url=aws.group(1)).get_secret_value(SecretId=secret.group(1))
        assert json.loads(value["SecretString"]) == {"pat": "local-pat"}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    check_output(out + err)
    assert proc.returncode == 0 and err.strip() == "", err


def test_sigterm_stops_the_emulator_cleanly(emulator: Emulator) -> None:
    """Last in the module: stops the shared process."""
    emulator.proc.send_signal(signal.SIGTERM)
    out, err = emulator.proc.communicate(timeout=20)
    check_output(out + err)
    assert emulator.proc.returncode == 0, err
    assert err.strip() == "", err
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emulator.azure.rsplit('/', 1)[0]}/_fake/state", timeout=2)
