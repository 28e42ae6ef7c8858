from __future__ import annotations

import pytest

from gate.domain.mapping import AgentIndex
from gate.domain.model import Agent, Waiting
from gate.settings import Mapping, SettingsError, load_settings

BASE = {
    "GATE_AZURE_ORG_URL": "https://dev.azure.com/acme",
    "GATE_POOLS": "linux, windows",
    "GATE_GROUPS": "agents",
    "GATE_HOOK_NAME": "gate",
    "GATE_PAT": "secret-pat-value",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_defaults_and_lists(env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.pools == ["linux", "windows"] and s.groups == ["agents"]
    assert (s.max_hold_seconds, s.idle_confirm_seconds, s.mapping) == (14_400, 15, Mapping.NAME)
    assert s.forced_result == "CONTINUE" and s.delete_agent_on_release and not s.dry_run
    assert "secret-pat-value" not in repr(s)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("GATE_AZURE_ORG_URL", "http://dev.azure.com/acme", "plain http is refused"),
        ("GATE_AZURE_ORG_URL", "dev.azure.com/acme", "absolute URL"),
        ("GATE_MAPPING", "ip", "GATE_MAPPING"),
        ("GATE_MAX_HOLD_SECONDS", "999999", "GATE_MAX_HOLD_SECONDS"),
        ("GATE_POOLS", " , ", "GATE_POOLS"),
        ("GATE_FORCED_RESULT", "KILL", "GATE_FORCED_RESULT"),
        ("GATE_PAT_SECRET_ARN", "arn:aws:s3:::bucket", "Secrets Manager"),
    ],
)
def test_bad_settings_name_the_variable(env: pytest.MonkeyPatch, key: str, value: str, message: str) -> None:
    env.setenv(key, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_loopback_http_allowed_and_pat_source_required(env: pytest.MonkeyPatch) -> None:
    env.setenv("GATE_AZURE_ORG_URL", "http://127.0.0.1:8080/fakeorg/")
    assert load_settings().azure_org_url == "http://127.0.0.1:8080/fakeorg"
    env.delenv("GATE_PAT")
    with pytest.raises(SettingsError, match="GATE_PAT_SECRET_ARN"):
        load_settings()
    env.setenv("GATE_PAT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ado-pat-AbC123")
    assert load_settings().pat is None


def _agent(id: int, name: str, caps: dict[str, str] | None = None, host: str | None = None) -> Agent:
    return Agent("azure-devops", 1, "p", id, name, True, capabilities=caps or {}, computer_name=host)


def test_mapping_by_name_is_exact_on_the_instance_id() -> None:
    agents = [
        _agent(1, "ado-i-0123456789abcdef0-1"),
        _agent(2, "ado-i-0123456789abcdef0-2"),
        _agent(3, "ado-i-0123456789abcdef1"),
        _agent(4, "agent-i-01234567"),
    ]
    index = AgentIndex(agents, Mapping.NAME)
    assert [a.id for a in index.agents_for(Waiting("g", "i-0123456789abcdef0", "h"))] == [1, 2]
    assert [a.id for a in index.agents_for(Waiting("g", "i-01234567", "h"))] == [4]


def test_mapping_by_capability_and_hostname() -> None:
    agents = [
        _agent(1, "x", {"AWS_INSTANCE_ID": "i-0123456789abcdef0"}, "ip-10-0-0-5.ec2.internal"),
        _agent(2, "y", {"AWS_INSTANCE_ID": "i-0123456789abcdef9"}, "ip-10-0-0-6.ec2.internal"),
    ]
    w = Waiting("g", "i-0123456789abcdef0", "h", private_dns="ip-10-0-0-5.ec2.internal")
    assert [a.id for a in AgentIndex(agents, Mapping.CAPABILITY).agents_for(w)] == [1]
    assert [a.id for a in AgentIndex(agents, Mapping.HOSTNAME).agents_for(w)] == [1]
    assert AgentIndex(agents, Mapping.HOSTNAME).agents_for(Waiting("g", "i-0", "h")) == []
