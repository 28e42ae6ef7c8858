"""`gate audit` end to end: the AWS emulator and the fake Azure DevOps record what happened, the audit reads them back
over HTTP. Without the hook a scale-in kills the busy instance's build (1 killed); with the gate it kills none, and
the holds are priced."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from emulator.azure_devops import LOST_AGENT_SECONDS
from emulator.sandbox import PAT, Sandbox
from gate.adapters import logs
from gate.domain.audit import AUDIT_EVENT_KEY, audit_request
from gate.domain.clock import ManualClock
from gate.handler import scheduled_audit
from tests.functional.features.conftest import make_group
from tests.support.github import RUNNER_LOST_SECONDS, FakeGitHub


def audit(sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    env = {
        "AWS_ENDPOINT_URL": sandbox.aws_endpoint,
        "AWS_DEFAULT_REGION": sandbox.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "GATE_AZURE_ORG_URL": sandbox.azure_url,
        "GATE_PAT": PAT,
        "GATE_GROUPS": "ci-agents",
        "GATE_POOLS": "linux-agents",
        "GATE_HOOK_NAME": "asg-termination-gate",
        **(env or {}),
    }
    result = CliRunner().invoke(app, ["audit", "--json", *args], env=env, prog_name="gate")
    assert PAT not in result.output and TOKEN not in result.output
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_without_the_hook_the_audit_counts_the_killed_build(sandbox: Sandbox, clock: ManualClock) -> None:
    group = make_group(sandbox, size=2, with_hook=False)
    sandbox.agents_die_with_instances()
    busy = group.instances[0]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], 1800)
    clock.advance(60)

    sandbox.scale_to("ci-agents", 0)  # no hook: both instances end at once, the build with its machine
    assert sandbox.instance_ids("ci-agents") == []
    clock.advance(LOST_AGENT_SECONDS + 1)  # the job lock runs out: the service fails the job
    assert sandbox.ado.build(build)["result"] == "failed"
    code, report = audit(sandbox, "--log-file", "/dev/null")
    assert code == 1
    assert report["builds_killed_by_scale_in"] == 1 and report["builds_lost_other"] == 0
    [killed] = report["killed_by_scale_in"]
    assert killed["instance"] == busy and killed["result"] == "failed"
    assert killed["agent_lost"]  # the job's timeline says "We stopped hearing from agent ..."
    assert "shrinking the capacity" in killed["cause"]
    assert report["terminations"] == 2 and report["holds"]["count"] == 0

    # the scheduled run in the Lambda (Terraform `audit`): the same count as an EMF metric line
    stream = io.StringIO()
    logs.configure(stream=stream)
    try:
        summary = scheduled_audit(sandbox.gate(), audit_request({AUDIT_EVENT_KEY: {"window_seconds": 3600}}) or 0)
    finally:
        logs.configure()
    assert summary == {"audit": "done", "builds_killed_by_scale_in": 1, "builds_lost_other": 0}
    [line] = [json.loads(x) for x in stream.getvalue().splitlines() if '"audit"' in x]
    assert line["BuildsKilledByScaleIn"] == 1 and line["killed"][0]["instance"] == busy
    metrics = line["_aws"]["CloudWatchMetrics"][0]
    assert metrics["Dimensions"] == [["FunctionName"]] and metrics["Metrics"][0]["Name"] == "BuildsKilledByScaleIn"


def test_with_the_gate_the_audit_counts_none_and_prices_the_holds(
    sandbox: Sandbox, clock: ManualClock, tmp_path: Path
) -> None:
    group = make_group(sandbox, size=2)
    sandbox.agents_die_with_instances()
    busy = group.instances[0]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], 600)
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=5))
    log_file = tmp_path / "gate.log"

    with log_file.open("w", encoding="utf-8") as stream:
        logs.configure(stream=stream)
        try:
            sandbox.scale_to("ci-agents", 0)
            for _ in range(40):
                gate.tick()
                if not sandbox.instance_ids("ci-agents"):
                    break
        finally:
            logs.configure()
    assert sandbox.instance_ids("ci-agents") == []
    assert sandbox.ado.build(build)["result"] == "succeeded"

    code, report = audit(sandbox, "--log-file", str(log_file))
    assert code == 0
    assert report["builds_killed_by_scale_in"] == 0 and report["builds_lost_other"] == 0
    assert report["jobs"] == 1 and report["terminations"] == 2
    holds = report["holds"]
    assert holds["count"] == 2 and holds["forced"] == 0 and holds["still_holding"] == 0
    assert holds["held_busy_hours"] > 0 and holds["held_idle_hours"] > 0  # the busy one until its build ended
    assert holds["held_busy_hours"] == pytest.approx(600 / 3600, abs=0.002)  # the build, held from its start


def test_a_build_kept_alive_on_a_retained_instance_is_not_killed(sandbox: Sandbox, clock: ManualClock) -> None:
    """Max hold with ABANDON and retention: the terminate activity ends, the instance lives on (Terminating:Retained)
    and so does its build. EC2 still lists it running: the audit counts no kill."""
    group = make_group(sandbox, size=1, retain_on_abandon=True)
    sandbox.agents_die_with_instances()
    busy = group.instances[0]
    assert sandbox.ado is not None
    build = sandbox.ado.start_build(group.agents[busy], 7200)
    gate = sandbox.gate(sandbox.settings(assignment_lag_seconds=5, max_hold_seconds=600, forced_result="ABANDON"))
    sandbox.scale_to("ci-agents", 0)
    for _ in range(40):
        gate.tick()
        if sandbox.lifecycle_states("ci-agents").get(busy) == "Terminating:Retained":
            break
    assert sandbox.lifecycle_states("ci-agents")[busy] == "Terminating:Retained"
    assert sandbox.ado.build(build)["finished_at"] is None  # still building

    code, report = audit(sandbox, "--log-file", "/dev/null")
    assert code == 0 and report["builds_killed_by_scale_in"] == 0 and report["terminations"] == 1


# --- GitHub Actions: workflow jobs' conclusion and runner name, the lost-communication annotation ---------------

TOKEN = "ghs_fakeinstallationtoken0123456789"


@pytest.fixture
def github(clock: ManualClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(clock=clock, token=TOKEN) as fake:
        yield fake


def github_world(sandbox: Sandbox, github: FakeGitHub, *, with_hook: bool) -> tuple[str, int]:
    """Two instances with one repository runner each, the first running a 10-minute job; a terminated instance
    takes its runner with it. Returns the busy instance and its job."""
    group = make_group(sandbox, size=2, with_hook=with_hook, agents=False)
    runners = {iid: github.add_runner(f"ci-{iid}", repo="acme/ci") for iid in group.instances}
    assert sandbox.emulator is not None
    sandbox.emulator.on_terminated.append(lambda _, iid: github.lose_runner(runners[iid]) if iid in runners else None)
    busy = group.instances[0]
    return busy, github.start_job(runners[busy], 600)


def github_env(github: FakeGitHub) -> dict[str, str]:
    return {
        "GATE_AGENT_SYSTEM": "github",
        "GATE_GITHUB_API_URL": github.url,
        "GATE_GITHUB_REPOS": "acme/ci",
        "GATE_GITHUB_TOKEN": TOKEN,
    }


def test_github_without_the_hook_the_audit_counts_the_killed_job(
    sandbox: Sandbox, clock: ManualClock, github: FakeGitHub
) -> None:
    busy, _ = github_world(sandbox, github, with_hook=False)
    clock.advance(60)
    sandbox.scale_to("ci-agents", 0)
    clock.advance(RUNNER_LOST_SECONDS + 1)  # GitHub gives the job up
    assert github.jobs()[0]["conclusion"] == "failure"

    code, report = audit(sandbox, "--log-file", "/dev/null", env=github_env(github))
    assert code == 1 and report["builds_killed_by_scale_in"] == 1 and report["builds_lost_other"] == 0
    [killed] = report["killed_by_scale_in"]
    assert killed["instance"] == busy and killed["result"] == "failure" and killed["agent_lost"]
    assert TOKEN not in json.dumps(report)


def test_github_with_the_gate_the_audit_counts_none(sandbox: Sandbox, clock: ManualClock, github: FakeGitHub) -> None:
    github_world(sandbox, github, with_hook=True)
    settings = sandbox.settings(
        agent_system="github",
        github_api_url=github.url,
        github_repos=["acme/ci"],
        github_token=TOKEN,
        assignment_lag_seconds=5,
    )
    gate = sandbox.gate(settings)
    sandbox.scale_to("ci-agents", 0)
    for _ in range(40):
        gate.tick()
        if not sandbox.instance_ids("ci-agents"):
            break
    assert sandbox.instance_ids("ci-agents") == [] and github.jobs()[0]["conclusion"] == "success"

    code, report = audit(sandbox, "--log-file", "/dev/null", env=github_env(github))
    assert code == 0 and report["builds_killed_by_scale_in"] == 0 and report["builds_lost_other"] == 0
    assert report["jobs"] == 1 and report["terminations"] == 2
