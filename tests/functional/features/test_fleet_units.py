"""The fleet features' pure parts and edges without servers: the ECS stage of the decision rules, the protection
plan, ECS pagination and task counting (botocore Stubber), notification bodies and dedupe, settings validation and
the agent-system registry."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from gate.adapters.ecs import Ecs, ignored
from gate.adapters.github import GitHubRunners
from gate.adapters.notify import COOLDOWN_SECONDS, HOLD_NOTIFIED_TAG, Notifier
from gate.bootstrap import SOURCES, build_gate
from gate.domain.actions import Complete, DeleteAgent, DrainContainerInstance
from gate.domain.clock import ManualClock
from gate.domain.decide import EcsFacts, Observation, Policy, decide
from gate.domain.holdstate import HOLD_TAG, HoldState, action_hash, encode
from gate.domain.model import Agent, Outcome, Waiting
from gate.domain.redact import register_secret
from gate.service.protection import Member, plan
from gate.settings import AgentSystem, SettingsError, load_settings

pytestmark = pytest.mark.serverless  # no server: part of make test-fast

T0 = 1_800_000_000.0
ECS_POLICY = Policy(idle_confirm_seconds=15, unregistered_grace_seconds=120, ecs_drain=True, ecs_wait_tasks=True)
ARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/agents/0f1e"


def idle_agent() -> Agent:
    return Agent("azure-devops", 7, "pool", 1, "agent-i-0123456789abcdef0", enabled=False)


def held(**state: Any) -> Waiting:
    tag = encode(HoldState(action_hash("activity-1"), **state))
    return Waiting("g", "i-0123456789abcdef0", "hook", action_id="activity-1", tags={HOLD_TAG: tag})


def confirmed() -> Waiting:
    """Held, its agent seen, disabled and idle past the lag bound: the next word is release (or the ECS stage)."""
    return held(held_since=T0, disabled_at=T0, seen=frozenset({(7, 1)}))


def at_release(ecs: EcsFacts | None, policy: Policy = ECS_POLICY) -> Any:
    obs = Observation([idle_agent()], job_requests={1: []}, ecs=ecs)
    return decide(confirmed(), obs, policy, T0 + 60)


# -- decide: the ECS stage ------------------------------------------------------------------------------------
def test_release_first_asks_for_the_container_instance() -> None:
    d = at_release(None)
    assert d.needs_ecs and d.outcome is Outcome.HELD and not d.final
    assert not at_release(None, dataclasses.replace(ECS_POLICY, ecs_drain=False)).needs_ecs


def test_active_container_instance_is_drained_in_a_holding_decision() -> None:
    d = at_release(EcsFacts(ARN, "ACTIVE", tasks=3))
    assert DrainContainerInstance(ARN) in d.actions and not d.final and d.outcome is Outcome.HELD
    assert d.recheck_at is None  # no timer: the next round looks at the container instance again


def test_draining_waits_for_watched_tasks_then_releases() -> None:
    d = at_release(EcsFacts(ARN, "DRAINING", tasks=2, task_groups=("service:web", "service:web")))
    assert d.outcome is Outcome.HELD and "2 task(s) still running (service:web)" in d.reason
    d = at_release(EcsFacts(ARN, "DRAINING", tasks=0))
    assert d.final and Complete("CONTINUE") in d.actions and DeleteAgent(idle_agent()) in d.actions
    no_wait = dataclasses.replace(ECS_POLICY, ecs_wait_tasks=False)
    assert at_release(EcsFacts(ARN, "DRAINING", tasks=5), no_wait).final


def test_unregistered_instance_releases_and_ecs_errors_hold() -> None:
    assert at_release(EcsFacts(None)).final
    d = at_release(EcsFacts(None, error="ThrottlingException"))
    assert d.outcome is Outcome.HELD and "fail safe" in d.reason and not d.actions


def test_leaving_a_warm_pool_drains_and_max_hold_skips_the_ecs_stage() -> None:
    warm = dataclasses.replace(confirmed(), lifecycle_state="Warmed:Terminating:Wait")  # a Running pool runs tasks
    leaving = decide(warm, Observation([idle_agent()], job_requests={1: []}), ECS_POLICY, T0 + 60)
    assert leaving.needs_ecs and not leaving.final
    busy = dataclasses.replace(idle_agent(), assigned_request=5)
    forced = decide(confirmed(), Observation([busy]), ECS_POLICY, T0 + 14_400)
    assert forced.outcome is Outcome.FORCED and not forced.needs_ecs


def test_going_into_a_warm_pool_is_not_drained() -> None:
    into = dataclasses.replace(confirmed(), lifecycle_state="Warmed:Pending:Wait")  # it will come back
    obs = Observation([idle_agent()], job_requests={1: []})
    d = decide(into, obs, ECS_POLICY, T0 + 60)
    assert d.final and not d.needs_ecs


def test_no_agent_after_grace_also_drains_first() -> None:
    w = held(held_since=T0, listed_since=T0)  # the grace runs from the first complete agent list (issue #18)
    assert decide(w, Observation([]), ECS_POLICY, T0 + 200).needs_ecs
    d = decide(w, Observation([], ecs=EcsFacts(ARN, "ACTIVE")), ECS_POLICY, T0 + 200)
    assert DrainContainerInstance(ARN) in d.actions and not d.final


@given(
    status=st.sampled_from(["ACTIVE", "DRAINING", "DEREGISTERING", "INACTIVE", None]),
    tasks=st.integers(0, 3),
    error=st.sampled_from([None, "boom"]),
    registered=st.booleans(),
    wait=st.booleans(),
)
def test_never_completes_while_active_or_in_the_same_decision_as_draining(
    status: str | None, tasks: int, error: str | None, registered: bool, wait: bool
) -> None:
    facts = EcsFacts(ARN if registered else None, status, tasks, error=error)
    d = at_release(facts, dataclasses.replace(ECS_POLICY, ecs_wait_tasks=wait))
    drains = [a for a in d.actions if isinstance(a, DrainContainerInstance)]
    assert not (drains and d.final)
    if d.final:
        assert error is None and (not registered or status != "ACTIVE")
        assert not (registered and wait and tasks and status != "ACTIVE")


# -- protection plan --------------------------------------------------------------------------------------------
def test_protection_plan_only_removes_its_own() -> None:
    members = [
        Member("g", "i-busy-unprotected", protected=False, ours=False),
        Member("g", "i-busy-ours", protected=True, ours=True),
        Member("g", "i-busy-operator", protected=True, ours=False),
        Member("g", "i-idle-ours", protected=True, ours=True),
        Member("g", "i-idle-operator", protected=True, ours=False),
        Member("h", "i-idle-stale-tag", protected=False, ours=True),
        Member("h", "i-busy-stale-tag", protected=False, ours=True),
        Member("h", "i-idle", protected=False, ours=False),
    ]
    p = plan(members, lambda m: "busy" in m.instance_id)
    assert p.protect == {"g": ["i-busy-unprotected"], "h": ["i-busy-stale-tag"]}
    assert p.unprotect == {"g": ["i-idle-ours"]}
    assert p.clear_tags == ["i-idle-stale-tag"]
    assert plan([], lambda m: True).empty


# -- ECS edge with botocore's Stubber -----------------------------------------------------------------------------
def stubbed_ecs(**kw: Any) -> tuple[Ecs, Stubber]:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    ecs = Ecs(session, "agents", **kw)
    return ecs, Stubber(ecs.client)


def test_ecs_follows_next_tokens_checks_the_instance_id_and_counts_stopping_tasks() -> None:
    ecs, stub = stubbed_ecs(wait_tasks=True, ignore_task_groups=["service:datadog*", "family:azp-agent"])
    flt = {"cluster": "agents", "maxResults": 100, "filter": "ec2InstanceId == i-0123456789abcdef0"}
    stub.add_response("list_container_instances", {"containerInstanceArns": [], "nextToken": "t1"}, flt)
    other = ARN.replace("0f1e", "9999")
    stub.add_response("list_container_instances", {"containerInstanceArns": [other, ARN]}, {**flt, "nextToken": "t1"})
    stub.add_response(
        "describe_container_instances",
        {
            "containerInstances": [
                {"containerInstanceArn": other, "ec2InstanceId": "i-0aaaaaaaaaaaaaaaa", "status": "ACTIVE"},
                {"containerInstanceArn": ARN, "ec2InstanceId": "i-0123456789abcdef0", "status": "DRAINING"},
            ]
        },
    )
    stub.add_response("list_tasks", {"taskArns": ["t-web", "t-dd"]})
    stub.add_response("list_tasks", {"taskArns": ["t-stopping", "t-stopped", "t-agent"]})
    tasks = [
        {"taskArn": "t-web", "lastStatus": "RUNNING", "group": "service:web"},
        {"taskArn": "t-dd", "lastStatus": "RUNNING", "group": "service:datadog-agent"},
        {"taskArn": "t-stopping", "lastStatus": "STOPPING", "desiredStatus": "STOPPED", "group": "service:api"},
        {"taskArn": "t-stopped", "lastStatus": "STOPPED", "group": "service:api"},
        {"taskArn": "t-agent", "lastStatus": "RUNNING", "group": "family:azp-agent"},
    ]
    stub.add_response("describe_tasks", {"tasks": tasks})
    with stub:
        facts = ecs.facts("i-0123456789abcdef0")
        stub.assert_no_pending_responses()  # both ListContainerInstances pages were asked for
    assert facts == EcsFacts(ARN, "DRAINING", 2, ("service:web", "service:api"))


def test_ecs_errors_become_facts_and_drain_failures_raise() -> None:
    ecs, stub = stubbed_ecs()
    stub.add_client_error("list_container_instances", "ClusterNotFoundException", "Cluster not found.")
    stub.add_response(
        "update_container_instances_state",
        {"containerInstances": [], "failures": [{"arn": ARN, "reason": "MISSING"}]},
    )
    with stub:
        facts = ecs.facts("i-0123456789abcdef0")
        assert facts.error is not None and "ClusterNotFound" in facts.error
        with pytest.raises(RuntimeError, match="MISSING"):
            ecs.drain(ARN)
    assert ignored("service:datadog-agent", ["service:datadog*"]) and not ignored("service:web", ["service:dd"])


# -- notifications ------------------------------------------------------------------------------------------------
class FakeAws:
    """The two calls the notifier's dedupe makes (DescribeInstances for the tag, CreateTags via Aws.tag)."""

    def __init__(self) -> None:
        self.tags: dict[tuple[str, str], str] = {}
        self.ec2 = self

    def describe_instances(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:
        iid = Filters[0]["Values"][0]
        tags = [{"Key": k, "Value": v} for (i, k), v in self.tags.items() if i == iid]
        return {"Reservations": [{"Instances": [{"InstanceId": iid, "Tags": tags}]}]}

    def tag(self, instance_id: str, key: str, value: str) -> None:
        self.tags[(instance_id, key)] = value


def record(outcome: str, held: float | None = 10.0, reason: str = "busy") -> dict[str, Any]:
    return {
        "outcome": outcome,
        "reason": reason,
        "group": "ci",
        "instance": "i-0123456789abcdef0",
        "hook": "gate",
        "agents": [{"name": "agent-1"}],
        "held_seconds": held,
    }


def offline_notifier(**kw: Any) -> tuple[Notifier, list[dict[str, Any]], ManualClock]:
    clock = ManualClock(T0)
    notifier = Notifier("https://hooks.example/services/T/B/xyz", clock=clock, **kw)
    posted: list[dict[str, Any]] = []

    def post(url: str, data: str, **_: Any) -> Any:
        posted.append(json.loads(data))
        return type("R", (), {"status_code": 200})()

    notifier.session.post = post  # type: ignore[method-assign]
    return notifier, posted, clock


def test_notification_bodies_and_redaction() -> None:
    register_secret("pat-super-secret-value")
    notifier, posted, _ = offline_notifier(fmt="json")
    notifier.on_record(record("forced", 14_500, reason="max hold reached; pat-super-secret-value leaked?"))
    [body] = posted
    assert body["kind"] == "forced" and body["agents"] == ["agent-1"] and "4h01m" in body["text"]
    assert "pat-super-secret-value" not in json.dumps(body)
    slack, posted, _ = offline_notifier()
    slack.on_record(record("error", None, reason="describe failed"))
    text = "[asg-termination-gate] ERROR on instance i-0123456789abcdef0 of group ci: describe failed"
    assert posted == [{"text": text}]


def test_cooldown_and_once_per_hold() -> None:
    aws = FakeAws()
    notifier, posted, clock = offline_notifier(aws=aws, hold_after=600)
    for _ in range(3):
        notifier.on_record(record("error"))
    assert len(posted) == 1
    clock.advance(COOLDOWN_SECONDS)
    notifier.on_record(record("error"))
    assert len(posted) == 2
    notifier.on_record(record("held", 599), held_since=T0)
    notifier.on_record(record("held", 601), held_since=T0)
    notifier.on_record(record("held", 900), held_since=T0)
    [hold] = posted[2:]
    assert hold["text"].startswith("[asg-termination-gate] holding instance i-0123456789abcdef0 of group ci for 10m01s")
    assert aws.tags[("i-0123456789abcdef0", HOLD_NOTIFIED_TAG)]
    other, posted2, _ = offline_notifier(aws=aws, hold_after=600)  # another container: the tag says sent
    other.on_record(record("held", 1200), held_since=T0)
    assert posted2 == []
    other.on_record(record("held", 1200), held_since=T0 + 5000)  # a new hold (new held-since): sent again
    assert len(posted2) == 1


def test_a_raising_transport_never_escapes() -> None:
    notifier, _, _ = offline_notifier()

    def boom(*_: Any, **__: Any) -> Any:
        raise ValueError("unexpected")

    notifier.session.post = boom  # type: ignore[method-assign]
    notifier.on_record(record("forced"))  # logged, not raised


# -- settings ----------------------------------------------------------------------------------------------------
BASE: dict[str, Any] = {"groups": "ci", "hook_name": "gate"}
AZURE: dict[str, Any] = {**BASE, "azure_org_url": "https://dev.azure.com/acme", "pools": "linux", "pat": "p4t-value"}


def test_fleet_settings_default_off_and_validate() -> None:
    s = load_settings(**AZURE)
    assert s.agent_system is AgentSystem.AZURE_DEVOPS
    assert not (s.protect_busy or s.ecs_drain or s.ecs_wait_tasks) and s.webhook_url is None
    assert (s.hold_notify_seconds, str(s.webhook_format), s.ecs_cluster) == (3600, "slack", "")
    s = load_settings(**AZURE, webhook_url="https://hooks.slack.com/services/T/B/sekrit", ecs_ignore_task_groups="a, b")
    assert "sekrit" not in repr(s) and s.ecs_ignore_task_groups == ["a", "b"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ecs_drain": True}, "GATE_ECS_DRAIN needs GATE_ECS_CLUSTER"),
        ({"ecs_cluster": "c", "ecs_wait_tasks": True}, "GATE_ECS_WAIT_TASKS needs GATE_ECS_DRAIN"),
        ({"ecs_cluster": "arn:aws:ecs:us-east-1:1:cluster/c"}, "GATE_ECS_CLUSTER"),
        ({"webhook_url": "http://hooks.example/sekrit"}, "GATE_WEBHOOK_URL: .*plain http"),
        ({"webhook_format": "xml"}, "GATE_WEBHOOK_FORMAT"),
        ({"webhook_timeout_seconds": 60}, "GATE_WEBHOOK_TIMEOUT_SECONDS"),
        ({"agent_system": "jenkins"}, "GATE_AGENT_SYSTEM"),
    ],
)
def test_bad_fleet_settings_name_the_variable(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as err:
        load_settings(**AZURE, **overrides)
    assert "sekrit" not in str(err.value)


def test_github_settings() -> None:
    s = load_settings(**BASE, agent_system="github", github_org="acme", github_token="ghs_x", github_repos="a/b, c/d")
    assert s.github_repos == ["a/b", "c/d"] and s.azure_org_url == "" and s.pools == []
    assert s.github_api_url == "https://api.github.com"
    with pytest.raises(SettingsError, match="GATE_GITHUB_ORG or GATE_GITHUB_REPOS"):
        load_settings(**BASE, agent_system="github", github_token="ghs_x")
    with pytest.raises(SettingsError, match="GATE_GITHUB_TOKEN_SECRET_ARN"):
        load_settings(**BASE, agent_system="github", github_org="acme")
    with pytest.raises(SettingsError, match="OWNER/REPO"):
        load_settings(**BASE, agent_system="github", github_repos="justaname", github_token="ghs_x")
    with pytest.raises(SettingsError, match="GATE_AZURE_ORG_URL is required"):
        load_settings(**BASE, pat="p4t-value", pools="linux")


def test_registry_covers_every_agent_system_and_builds_the_github_source() -> None:
    assert set(SOURCES) == set(AgentSystem)
    settings = load_settings(
        **BASE,
        agent_system="github",
        github_api_url="https://ghe.example.com/api/v3",
        github_repos="acme/ci",
        github_token="ghs_registrytoken",
    )
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    gate = build_gate(settings, session=session, log=None)
    source = gate.source.get()  # type: ignore[attr-defined]  # a LazySource: built on first use
    assert isinstance(source, GitHubRunners) and source.scopes == ["repo:acme/ci"]
    assert gate.ecs is None and gate.protector is None and gate.notifier is None
