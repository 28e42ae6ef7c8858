"""The Lambda entry point as AWS runs it: settings from the environment, the PAT from Secrets Manager or SSM by
ARN, endpoints from AWS_ENDPOINT_URL, one EMF-formatted JSON line per decision."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from emulator.sandbox import PAT, Sandbox
from gate import bootstrap, handler
from gate.adapters import logs, secrets
from gate.domain.clock import SystemClock
from gate.settings import SettingsError


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SystemClock()) as sb:
        sb.create_group("ci-agents", 2)
        yield sb


@pytest.fixture
def lambda_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    group = sandbox.groups["ci-agents"]
    for key, value in {
        "GATE_AZURE_ORG_URL": sandbox.azure_url,
        "GATE_POOLS": group.pool,
        "GATE_GROUPS": group.name,
        "GATE_HOOK_NAME": group.hook,
        "AWS_ENDPOINT_URL": sandbox.aws_endpoint,
        "AWS_REGION": "us-east-1",
        "GATE_TICK_BUDGET_SECONDS": "0",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(bootstrap, "_gate", None)
    monkeypatch.setattr(secrets, "_cache", {})
    stream = io.StringIO()
    monkeypatch.setattr(logs, "configure", lambda stream_=None, level="INFO", _s=stream: _configure(_s, level))
    yield stream
    _configure(None, "INFO")


_real_configure = logs.configure


def _configure(stream: io.StringIO | None, level: str) -> None:
    _real_configure(stream=stream, level=level)


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:asg-termination-gate"


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_pat_from_secrets_manager_and_emf_lines(
    sandbox: Sandbox, lambda_env: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = sandbox.client("secretsmanager").create_secret(Name="ado-pat", SecretString=json.dumps({"pat": PAT}))["ARN"]
    monkeypatch.setenv("GATE_PAT_SECRET_ARN", arn)
    sandbox.scale_to("ci-agents", 1)
    [event] = sandbox.receive_events()
    result = handler.handle(event, Context())
    assert result["outcomes"] == {"held": 1}  # drained this round; budget 0 ends the invocation
    [line] = [entry for entry in lines(lambda_env) if entry.get("event") == "decision"]
    assert line["Outcome"] == "held" and line["instance"] == event["detail"]["EC2InstanceId"]
    assert {"group", "hook", "agents", "reason", "held_seconds", "actions", "ts", "level"} <= set(line)
    emf = line["_aws"]["CloudWatchMetrics"][0]
    assert emf["Namespace"] == "AsgTerminationGate" and emf["Dimensions"] == [["FunctionName", "Outcome"]]
    assert {m["Name"] for m in emf["Metrics"]} == {"Decisions", "HeldSeconds"}
    assert line["Outcome"] == "held" and line["Decisions"] == 1 and isinstance(line["_aws"]["Timestamp"], int)
    assert PAT not in lambda_env.getvalue()
    assert (
        handler.handle({"version": "0", "source": "aws.events", "detail-type": "Scheduled Event"}, Context())[
            "decisions"
        ]
        == 1
    )  # warm container: the same gate, the tick sees it


def test_pat_from_ssm_securestring(sandbox: Sandbox, lambda_env: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = sandbox.client("ssm")
    ssm.put_parameter(Name="/ci/ado-pat", Value=PAT, Type="SecureString")
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter/ci/ado-pat"
    monkeypatch.setenv("GATE_PAT_SECRET_ARN", arn)
    assert handler.handle({"Event": "autoscaling:TEST_NOTIFICATION"}, Context())["outcomes"] == {"skipped": 1}
    assert bootstrap._gate is not None and bootstrap._gate.account == "123456789012"


def test_unreadable_secret_and_bad_settings_raise_without_leaking(
    lambda_env: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unreadable secret no longer stops the container (liveness before construction, tests/functional/safety/
    # test_cold_start.py): the tick runs, and the secret is first read when the agent system is asked.
    monkeypatch.setenv("GATE_PAT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
    assert handler.handle({}, Context())["outcomes"] == {"skipped": 1}
    monkeypatch.setattr(bootstrap, "_gate", None)
    monkeypatch.setenv("GATE_AZURE_ORG_URL", "http://dev.azure.com/acme")
    with pytest.raises(SettingsError, match="GATE_AZURE_ORG_URL"):
        handler.handle({}, Context())
    errors = [entry for entry in lines(lambda_env) if entry.get("event") == "gate_misconfigured"]
    assert len(errors) == 1 and all(e["outcome"] == "error" for e in errors)
