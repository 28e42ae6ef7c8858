"""`gate check`, `gate status`, `gate replay` against a live Sandbox (AWS emulator + fake Azure DevOps over HTTP),
configured the way an operator would: `GATE_*` variables and `--aws-endpoint`.

The world: group ci-agents with 3 instances; instance 0 runs a build, instance 2 is protected, the group is scaled
to 1, so instances 0 (busy) and 1 (idle) wait in Terminating:Wait on the hook. Read-only commands must leave every
trace untouched: the agents stay enabled, the emulator records no heartbeat and no completion, no tag is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.sandbox import PAT, Group, Sandbox
from tests.functional.cli.conftest import gate, one_line_error


@dataclass
class World:
    sandbox: Sandbox
    group: Group
    busy: str
    idle: str
    kept: str
    events: dict[str, dict[str, Any]]  # instance id -> its lifecycle event, as EventBridge delivered it

    def agent(self, iid: str) -> dict[str, Any]:
        assert self.sandbox.ado is not None
        agent = self.sandbox.ado.agent(self.group.agents[iid])
        assert agent is not None
        return agent

    def history(self, iid: str) -> list[str]:
        assert self.sandbox.emulator is not None
        return [h["what"] for h in self.sandbox.emulator.history() if h["instance_id"] == iid]

    def tags(self, iid: str) -> dict[str, str]:
        resp = self.sandbox.client("ec2").describe_instances(InstanceIds=[iid])
        inst = resp["Reservations"][0]["Instances"][0]
        return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}

    def untouched(self, iid: str) -> bool:
        return (
            self.agent(iid)["enabled"]
            and self.history(iid) == ["wait"]
            and not any(k.startswith("gate:") for k in self.tags(iid))
        )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with Sandbox() as sandbox:
        group = sandbox.create_group("ci-agents", 3, heartbeat_timeout=600)
        busy, idle, kept = group.instances
        assert sandbox.ado is not None
        sandbox.ado.start_build(group.agents[busy], 3600)
        sandbox.client("autoscaling").set_instance_protection(
            AutoScalingGroupName="ci-agents", InstanceIds=[kept], ProtectedFromScaleIn=True
        )
        sandbox.scale_to("ci-agents", 1)
        deadline = time.monotonic() + 20
        events: dict[str, dict[str, Any]] = {}
        while len(events) < 2 and time.monotonic() < deadline:
            events.update({e["detail"]["EC2InstanceId"]: e for e in sandbox.receive_events()})
            time.sleep(0.1)
        assert set(events) == {busy, idle}
        assert sandbox.lifecycle_states("ci-agents") == {
            busy: "Terminating:Wait",
            idle: "Terminating:Wait",
            kept: "InService",
        }
        yield World(sandbox, group, busy, idle, kept, events)


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    for key, value in {
        "GATE_AZURE_ORG_URL": world.sandbox.azure_url,
        "GATE_PAT": PAT,
        "GATE_POOLS": world.group.pool,
        "GATE_GROUPS": "ci-agents",
        "GATE_HOOK_NAME": world.group.hook,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return world


def aws(w: World) -> list[str]:
    return ["--aws-endpoint", w.sandbox.aws_endpoint]


# -- check ---------------------------------------------------------------------------------------------------


def test_check_busy_waiting_instance_would_hold_and_heartbeat_but_does_nothing(env: World) -> None:
    result = gate("check", env.busy, *aws(env))
    assert result.exit_code == 0, result
    out = result.stdout
    assert f"{env.busy} in ci-agents: Terminating:Wait" in out
    assert "busy:     busy" in out
    decision = next(line for line in out.splitlines() if "decision:" in line)
    assert "runs request" not in decision  # busy, still enabled: first it must be drained (the plan's hold says why)
    assert "decision: held: " in out  # the rules' reason (draining, or no proof yet that the action is ours)
    assert any(line.strip().startswith("would:") for line in out.splitlines())
    assert "dry run: nothing was done" in out
    assert env.untouched(env.busy)


def test_check_json(env: World) -> None:
    result = gate("check", env.busy, *aws(env), "--json")
    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert data["lifecycle_state"] == "Terminating:Wait" and data["waiting"] and data["configured_group"]
    assert data["busy"] is True and data["decision"] == "held" and isinstance(data["would"], list)
    assert [a["name"] for a in data["agents"]] == [f"agent-{env.busy}"] and data["agents"][0]["enabled"]
    assert data["dry_run"] is True and data["agent_error"] is None
    idle = json.loads(gate("check", env.idle, *aws(env), "--json").stdout)
    assert idle["busy"] is False and idle["decision"] == "held"
    assert env.untouched(env.busy) and env.untouched(env.idle)


def test_check_in_service_instance_says_the_gate_does_nothing_now(env: World) -> None:
    result = gate("check", env.kept, *aws(env))
    assert result.exit_code == 0, result
    assert "InService" in result.stdout and "the gate does nothing now" in result.stdout
    assert env.agent(env.kept)["enabled"]


def test_check_unknown_or_malformed_instance(env: World) -> None:
    one_line_error(gate("check", "i-0123456789abcdef0", *aws(env)), "not in any Auto Scaling group")
    one_line_error(gate("check", "web-1", *aws(env)), "not an EC2 instance id")


def test_check_group_outside_the_allow_list(env: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group named in GATE_GROUPS that does not exist is a mistake, said before anything else."""
    monkeypatch.setenv("GATE_GROUPS", "some-other-group")
    line = one_line_error(gate("check", env.busy, *aws(env)), "group some-other-group not found")
    assert "groups there: ci-agents" in line and "fix GATE_GROUPS" in line
    assert env.untouched(env.busy)


# -- status --------------------------------------------------------------------------------------------------


def test_status_lists_the_instances_with_state_protection_agents(env: World) -> None:
    for width in (80, 200):
        result = gate("status", *aws(env), width=width)
        assert result.exit_code == 0, result
        assert "status: group ci-agents" in result.stdout
        lines = result.stdout.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= width
        rows = {line.split()[0]: line for line in lines if line.strip().startswith("i-")}
        assert set(rows) == {env.busy, env.idle, env.kept}, result
        assert "Terminating:Wait" in rows[env.busy] and " busy " in rows[env.busy]
        assert "Terminating:Wait" in rows[env.idle] and " idle " in rows[env.idle]
        assert "InService" in rows[env.kept] and " yes " in rows[env.kept]
        assert (f"agent-{env.busy}#" in rows[env.busy]) == (width >= 120)  # narrow: the id inside is shortened

    data = json.loads(gate("status", *aws(env), "--json").stdout)
    by_id = {r["instance"]: r for r in data["instances"]}
    assert by_id[env.busy]["state"] == "Terminating:Wait" and by_id[env.busy]["busy"] is True
    assert by_id[env.kept]["protected"] is True and by_id[env.kept]["state"] == "InService"
    assert by_id[env.idle]["agents"][0]["name"] == f"agent-{env.idle}"
    assert data["agent_error"] is None and data["groups"] == ["ci-agents"]
    assert env.untouched(env.busy)


def test_status_with_a_refused_pat_is_one_line_exit_2(env: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_PAT", "wrong-pat-1234")
    result = gate("status", *aws(env), "--json")
    one_line_error(result, "refused the PAT (HTTP 401)", "GATE_PAT")  # X-TFS-FedAuthRedirect: Suppress
    assert "wrong-pat-1234" not in result.output


def test_missing_settings_name_the_variable(env: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GATE_HOOK_NAME")
    line = one_line_error(gate("status", *aws(env)), "invalid gate settings", "GATE_HOOK_NAME")
    assert "GATE_GROUPS" not in line
    monkeypatch.setenv("GATE_HOOK_NAME", "termination-gate")
    monkeypatch.delenv("GATE_POOLS")
    one_line_error(gate("replay", save(tmp_path, env.events[env.busy]), *aws(env)), "GATE_POOLS")
    one_line_error(gate("status", *aws(env)), "invalid gate settings", "GATE_POOLS")
    monkeypatch.setenv("GATE_POOLS", "linux-agents")
    monkeypatch.setenv("GATE_AZURE_ORG_URL", "http://dev.azure.example/org")
    one_line_error(gate("check", env.busy, *aws(env)), "GATE_AZURE_ORG_URL", "plain http is refused")


def test_unreachable_aws_endpoint_is_one_line_exit_2_and_fast(env: World) -> None:
    started = time.monotonic()
    for args in (["status"], ["check", env.busy], ["outcomes", "--log-group", "x"]):
        one_line_error(gate(*args, "--aws-endpoint", "http://127.0.0.1:1"), "cannot reach the AWS endpoint")
    assert time.monotonic() - started < 10  # no botocore retry storm before saying so
    one_line_error(gate("status", "--aws-endpoint", "ftp://127.0.0.1"), "absolute http(s) URL")


# -- replay --------------------------------------------------------------------------------------------------


def save(tmp_path: Path, event: Any, name: str = "event.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(event) if not isinstance(event, str) else event)
    return path


def test_replay_is_a_dry_run_by_default(env: World, tmp_path: Path) -> None:
    result = gate("replay", save(tmp_path, env.events[env.busy]), *aws(env))
    assert result.exit_code == 0, result
    assert f"skipped ci-agents {env.busy}: dry run: would" in result.stdout
    assert "heartbeat" in result.stdout and "dry run: nothing was done" in result.stdout
    assert env.untouched(env.busy)

    data = json.loads(gate("replay", save(tmp_path, env.events[env.busy]), *aws(env), "--json").stdout)
    assert data["dry_run"] is True and [r["outcome"] for r in data["records"]] == ["skipped"]
    assert env.untouched(env.busy)


def test_replay_scheduled_event_dry_run_covers_every_waiting_instance(env: World, tmp_path: Path) -> None:
    tick = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    data = json.loads(gate("replay", save(tmp_path, tick), *aws(env), "--json").stdout)
    assert {r["instance"] for r in data["records"]} == {env.busy, env.idle}
    assert all(r["outcome"] == "skipped" and r["reason"].startswith("dry run") for r in data["records"])
    assert env.untouched(env.busy) and env.untouched(env.idle)


def test_replay_foreign_group_event_is_skipped(env: World, tmp_path: Path) -> None:
    event = json.loads(json.dumps(env.events[env.busy]))
    event["detail"]["AutoScalingGroupName"] = "someone-elses-group"
    result = gate("replay", save(tmp_path, event), *aws(env), "--execute")
    assert result.exit_code == 0, result
    assert "skipped someone-elses-group" in result.stdout and "not in the allow-list" in result.stdout
    assert env.untouched(env.busy)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "is a list, not an object"),
        ('{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}', "unsupported event"),
        ("TRUNCATED", "is not JSON"),
    ],
)
def test_replay_malformed_file_is_one_line_exit_2(env: World, tmp_path: Path, content: str, needle: str) -> None:
    one_line_error(gate("replay", save(tmp_path, content), *aws(env)), needle)


def test_replay_event_missing_its_token_and_missing_file(env: World, tmp_path: Path) -> None:
    event = json.loads(json.dumps(env.events[env.busy]))
    del event["detail"]["LifecycleActionToken"]
    one_line_error(gate("replay", save(tmp_path, event), *aws(env)), "malformed", "LifecycleActionToken")
    one_line_error(gate("replay", tmp_path / "nope.json", *aws(env)), "cannot read", "No such file")


def test_replay_execute_acts(env: World, tmp_path: Path) -> None:
    """Last in the module: it drains the idle instance's agent and heartbeats its hook (one look, no release)."""
    result = gate("replay", save(tmp_path, env.events[env.idle]), *aws(env), "--execute")
    assert result.exit_code == 0, result
    assert f"held ci-agents {env.idle}: draining: disabled" in result.stdout
    assert "dry run" not in result.stdout
    assert env.agent(env.idle)["enabled"] is False
    assert env.history(env.idle)[0] == "wait" and set(env.history(env.idle)[1:]) == {"heartbeat"}
    assert any(key.startswith("gate:") for key in env.tags(env.idle))  # the hold's state, on the instance
    assert env.untouched(env.busy)  # only the replayed instance


def test_replay_execute_exits_1_when_the_handler_records_an_error(env: World, tmp_path: Path) -> None:
    """After the one above: the idle instance is drained; now AWS refuses the heartbeat (not retryable)."""
    assert env.sandbox.emulator is not None
    env.sandbox.emulator.faults.inject(
        "RecordLifecycleActionHeartbeat", code="AccessDenied", status=403, message="not allowed", count=None
    )
    try:
        result = gate("replay", save(tmp_path, env.events[env.idle]), *aws(env), "--execute")
    finally:
        env.sandbox.emulator.faults.clear()
    assert result.exit_code == 1, result
    assert f"error ci-agents {env.idle}: heartbeat failed" in result.stdout and "AccessDenied" in result.stdout
