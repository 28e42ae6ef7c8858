"""GATE_AGENT_SYSTEM=gitlab: its settings, their one-line errors, and the IP mapping of shared runners' managers."""

from __future__ import annotations

import pytest

from gate.domain.mapping import AgentIndex, Mapping
from gate.domain.model import Agent, Waiting
from gate.settings import AgentSystem, SettingsError, load_settings

BASE = {"GATE_AGENT_SYSTEM": "gitlab", "GATE_GROUPS": "agents", "GATE_HOOK_NAME": "gate"}
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gate-gitlab-AbCdEf"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_defaults_and_token_sources(env: pytest.MonkeyPatch) -> None:
    env.setenv("GATE_GITLAB_TOKEN_SECRET_ARN", ARN)
    env.setenv("GATE_GITLAB_TAG_LIST", "docker, asg")
    s = load_settings()
    assert s.agent_system is AgentSystem.GITLAB and s.gitlab_url == "https://gitlab.com"
    assert (s.gitlab_runners, s.gitlab_tag_list, s.configured_pools()) == ("owned", ["docker", "asg"], ["runners"])
    env.delenv("GATE_GITLAB_TOKEN_SECRET_ARN")
    env.setenv("GATE_GITLAB_TOKEN", "glpat-local-token-000000")
    env.setenv("GATE_GITLAB_URL", "https://gitlab.example.com/")
    env.setenv("GATE_MAPPING", "ip")
    s = load_settings()
    assert s.gitlab_url == "https://gitlab.example.com" and s.mapping is Mapping.IP
    assert "glpat-local-token-000000" not in repr(s)


@pytest.mark.parametrize(
    ("env_vars", "message"),
    [
        ({}, "GATE_GITLAB_TOKEN_SECRET_ARN (in AWS) or GATE_GITLAB_TOKEN"),
        ({"GATE_GITLAB_TOKEN": "t", "GATE_GITLAB_URL": "http://gitlab.example.com"}, "GATE_GITLAB_URL: "),
        ({"GATE_GITLAB_TOKEN": "t", "GATE_GITLAB_URL": "https://gitlab.com/api/v4"}, "no /api/v4"),
        ({"GATE_GITLAB_TOKEN": "t", "GATE_GITLAB_RUNNERS": "mine"}, "GATE_GITLAB_RUNNERS: "),
        ({"GATE_GITLAB_TOKEN": "t", "GATE_MAPPING": "hostname"}, "use name, capability, ip or system-id"),
        ({"GATE_GITLAB_TOKEN_SECRET_ARN": "gate-gitlab"}, "GATE_GITLAB_TOKEN_SECRET_ARN: "),
    ],
)
def test_errors_are_one_line_each_and_name_the_variable(
    env: pytest.MonkeyPatch, env_vars: dict[str, str], message: str
) -> None:
    for key, value in env_vars.items():
        env.setenv(key, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 1 and message in lines[0], lines


def test_ip_mapping_is_for_gitlab_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_AGENT_SYSTEM", "github")
    with pytest.raises(SettingsError, match="GATE_MAPPING=ip applies to GitLab"):
        load_settings(github_org="acme", github_token="t", groups="g", hook_name="h", mapping="ip")


def manager(mid: int, ip: str | None) -> Agent:
    caps = {"runner_id": "1", "system_id": f"s_{mid}"} | ({"ip_address": ip} if ip else {})
    return Agent("gitlab", 1, "runner:1", mid, f"s_{mid}", True, capabilities=caps, disableable=False)


def test_ip_mapping_is_exact_and_a_shared_address_is_ambiguous() -> None:
    a = Waiting("g", "i-0123456789abcdef0", "h", private_ip="10.0.1.5")
    b = Waiting("g", "i-0fedcba9876543210", "h", private_ip="10.0.1.50")
    agents = [manager(1, "10.0.1.5"), manager(2, "10.0.1.50"), manager(3, None), manager(4, "not-an-ip")]
    index = AgentIndex(agents, Mapping.IP, instances=[a, b])
    assert [x.id for x in index.agents_for(a)] == [1] and [x.id for x in index.agents_for(b)] == [2]
    twin = Waiting("g", "i-00000000000000001", "h", private_ip="10.0.1.5")  # the same IP in another VPC
    index = AgentIndex(agents, Mapping.IP, instances=[a, twin])
    assert index.agents_for(a) == [] and [x.agent.id for x in index.ambiguous_for(twin)] == [1]
    assert AgentIndex(agents, Mapping.IP).agents_for(Waiting("g", "i-0123456789abcdef0", "h")) == []


def test_system_id_mapping_reads_the_instance_tag_and_a_baked_in_id_is_ambiguous() -> None:
    from gate.domain.mapping import SYSTEM_ID_TAG

    a = Waiting("g", "i-0123456789abcdef0", "h", tags={SYSTEM_ID_TAG: "s_0123456789ab"})
    b = Waiting("g", "i-0fedcba9876543210", "h", tags={SYSTEM_ID_TAG: "s_ba9876543210"})
    agents = [
        Agent("gitlab", 1, "runner:1", 1, "s_0123456789ab", True, capabilities={"system_id": "s_0123456789ab"}),
        Agent("gitlab", 2, "runner:2", 7, "s_0123456789ab", True, capabilities={"system_id": "s_0123456789ab"}),
        Agent("gitlab", 1, "runner:1", 2, "s_ba9876543210", True, capabilities={"system_id": "s_ba9876543210"}),
    ]
    index = AgentIndex(agents, Mapping.SYSTEM_ID, instances=[a, b])
    # one machine running two runners: both managers share its system_id, and both are its
    assert sorted(x.id for x in index.agents_for(a)) == [1, 7] and [x.id for x in index.agents_for(b)] == [2]
    untagged = Waiting("g", "i-00000000000000002", "h")
    assert AgentIndex(agents, Mapping.SYSTEM_ID).agents_for(untagged) == []
    clone = Waiting("g", "i-00000000000000001", "h", tags={SYSTEM_ID_TAG: "s_0123456789ab"})  # an image with the id
    index = AgentIndex(agents, Mapping.SYSTEM_ID, instances=[a, clone])
    assert index.agents_for(a) == [] and {x.agent.id for x in index.ambiguous_for(clone)} == {1, 7}


def test_system_id_mapping_is_for_gitlab_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="GATE_MAPPING=system-id applies to GitLab"):
        load_settings(
            pools="p", azure_org_url="https://dev.azure.com/a", pat="x", groups="g", hook_name="h", mapping="system-id"
        )
    s = load_settings(agent_system="gitlab", gitlab_token="t", groups="g", hook_name="h", mapping="system-id")
    assert s.mapping is Mapping.SYSTEM_ID
