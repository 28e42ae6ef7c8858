"""Liveness before construction (issue #18, class 5): a Lambda container that starts while its credential cannot be
read (the secret scheduled for deletion, access denied, a disabled KMS key) still heartbeats every waiting hook,
records an error and holds; once the secret is readable again, the same container proceeds (disables, releases
when idle). An invocation's first heartbeat pass needs only the group and hook settings and Auto Scaling: the
secret is read after it, never before, cold or warm. Verdicts come from the servers' records (the AWS emulator's
lifecycle history and request log, the fake Azure DevOps' agents), not from the gate's log.

Before the fix the handler read the PAT while building the gate and the container died in initialisation: no
heartbeat at all, so the hooks ran into their timeout and their builds with them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gate.settings import SettingsError
from tests.functional.safety.lambda_env import TICK, LambdaEnv, lambda_env
from tests.support.world import World

__all__ = ["lambda_env"]

PAT = "sandbox-pat-0123456789abcdef"  # what the fake Azure DevOps accepts (emulator.sandbox.PAT)


def _secret(world: World, value: str = PAT) -> str:
    sm = world.sb.client("secretsmanager")
    return str(sm.create_secret(Name="gate-ado-pat", SecretString=json.dumps({"pat": value}))["ARN"])


def _aws_calls(world: World) -> list[str]:
    return [c["action"] for c in world.emu.faults.calls]


def _busy(world: World, instances: list[str], seconds: float) -> dict[str, int]:
    return {iid: world.ado.start_build(world.group.agents[iid], seconds) for iid in instances}


def test_a_cold_container_without_its_secret_heartbeats_holds_and_recovers(world: World, lambda_env: LambdaEnv) -> None:
    arn = _secret(world)
    lambda_env.configure(pat_secret_arn=arn)
    sm = world.sb.client("secretsmanager")
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)  # scheduled for deletion: GetSecretValue is refused
    victims = world.scale_in(1)
    assert len(victims) == 2
    builds = _busy(world, victims, 600)

    # Cold start, the secret unreadable: every waiting hook is heartbeated, nothing is completed, an error recorded.
    result = lambda_env.invoke(TICK)
    beats = world.history("heartbeat")
    assert set(beats) == set(victims), beats
    assert not world.history("complete") and not world.history("timeout")
    assert result["outcomes"].get("error", 0) >= 1 and "released" not in result["outcomes"]
    errors = [d for d in lambda_env.decisions() if d["Outcome"] == "error"]
    assert any("agent system unavailable" in d["reason"] and arn in d["reason"] for d in errors), errors
    held = [d for d in lambda_env.decisions() if d["Outcome"] == "held"]
    assert {d["instance"] for d in held} == set(victims)
    assert all(world.agent(iid)["enabled"] for iid in victims)  # nothing known, nothing touched
    assert "GetSecretValue" in _aws_calls(world)  # it was tried (after the heartbeats: see the test below)

    # Minutes later, still unreadable: still heartbeated (HeartbeatTimeout 300 s), still held, never completed.
    lambda_env.minutes(6)
    assert not world.history("timeout") and not world.history("complete")
    assert all(len(world.history("heartbeat")[iid]) >= 3 for iid in victims)

    # The secret is readable again: the same container (no cold start) disables the agents and releases each
    # instance once its build has ended, deleting its agent.
    sm.restore_secret(SecretId=arn)
    lambda_env.minutes(
        2
    )  # the next read is at most a minute after the last failed one (gate.adapters.secrets.Rotation)
    assert all(not world.agent(iid)["enabled"] for iid in victims)
    assert not world.history("complete")
    for request in builds.values():
        world.ado.finish_build(request)
    lambda_env.minutes(3)
    completed = world.history("complete")
    assert set(completed) == set(victims)
    assert all(h[-1]["result"] == "CONTINUE" for h in completed.values())
    assert all((world.ado.agent(world.group.agents[iid]) or {}).get("deleted") for iid in victims)
    assert not world.history("timeout")
    assert [b for b in world.ado.builds() if b["result"] == "abandoned"] == []
    assert sum(1 for line in lambda_env.lines() if line.get("cold_start")) >= 1


def _first_secret_read_after_heartbeats(world: World, waiting: list[str]) -> None:
    calls = _aws_calls(world)
    assert "GetSecretValue" in calls, calls
    first_read = calls.index("GetSecretValue")
    beats = [i for i, action in enumerate(calls) if action == "RecordLifecycleActionHeartbeat"]
    assert len(beats) >= len(waiting) and beats[len(waiting) - 1] < first_read, calls


def test_the_secret_is_read_only_after_the_heartbeat_pass_on_every_entry_path(
    world: World, lambda_env: LambdaEnv
) -> None:
    """A readable secret, so the whole path runs: the AWS emulator's request log shows every waiting instance's
    heartbeat before the first GetSecretValue, for a cold tick and for a cold lifecycle event."""
    arn = _secret(world)
    lambda_env.configure(pat_secret_arn=arn)
    victims = world.scale_in(1)
    _busy(world, victims, 600)
    events = world.sb.receive_events()
    world.emu.faults.calls.clear()

    lambda_env.invoke(TICK)  # cold tick
    _first_secret_read_after_heartbeats(world, victims)
    assert all(not world.agent(iid)["enabled"] for iid in victims)  # and then judged as usual

    lambda_env.cold()  # a new container whose first invocation is the lifecycle event
    world.clock.advance(120)
    world.emu.faults.calls.clear()
    event: dict[str, Any] = next(e for e in events if e["detail"]["EC2InstanceId"] == victims[0])
    lambda_env.invoke(event)
    _first_secret_read_after_heartbeats(world, [victims[0]])


def test_a_cold_spot_warning_without_the_secret_is_recorded_not_a_crash(world: World, lambda_env: LambdaEnv) -> None:
    arn = _secret(world)
    lambda_env.configure(pat_secret_arn=arn)
    world.sb.client("secretsmanager").delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    iid = world.group.instances[0]
    spot = {
        "version": "0",
        "id": "spot-1",
        "source": "aws.ec2",
        "account": "123456789012",
        "region": "us-east-1",
        "time": "2027-01-15T10:00:00Z",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "detail": {"instance-id": iid, "instance-action": "terminate"},
    }
    result = lambda_env.invoke(spot)  # before the fix: SecretError out of the handler, nothing recorded
    assert result["decisions"] == 1 and set(result["outcomes"]) <= {"error", "spot"}
    [line] = lambda_env.decisions()
    assert line["instance"] == iid and "disabled 0" not in line["reason"] and ("fail" in line["reason"]), line
    assert world.agent(iid)["enabled"]


def test_invalid_settings_still_heartbeat_what_waits_under_the_hook(world: World, lambda_env: LambdaEnv) -> None:
    """A setting that fails validation (here the agent system's URL) stops judgment, not liveness: as long as the
    groups and the hook name can be read, every waiting hook is heartbeated, nothing else is done, and the invocation
    still fails (the Errors alarm)."""
    lambda_env.configure(pat_secret_arn=_secret(world), azure_org_url="http://dev.azure.example/acme")  # not loopback
    victims = world.scale_in(1)
    _busy(world, victims, 3600)
    for minute in range(8):  # 8 minutes on a 300 s HeartbeatTimeout: dead without heartbeats
        with pytest.raises(SettingsError, match="GATE_AZURE_ORG_URL"):
            lambda_env.invoke(TICK)
        assert set(world.history("heartbeat")) == set(victims), minute
        world.clock.advance(60)
    assert not world.history("timeout") and not world.history("complete")
    assert all(world.agent(iid)["enabled"] for iid in victims)  # no agent system call, no tag, no completion
    assert not [c for c in _aws_calls(world) if c in ("CreateTags", "CompleteLifecycleAction", "GetSecretValue")]
    assert any(line.get("event") == "heartbeats_only" and line.get("sent") == 2 for line in lambda_env.lines())
