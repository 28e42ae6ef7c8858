"""GitHub Actions self-hosted runners as the busy probe, end to end: the AWS emulator, the fake GitHub REST API
(tests.support.github) and the real handler. Runners cannot be disabled: the gate waits while `busy`, releases
after idle confirmation, and deletes the runner registration after completing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.sandbox import Sandbox
from gate.adapters.github import GitHubRunners
from gate.domain.clock import ManualClock
from gate.handler import dispatch
from gate.service.sources import AgentSourceError, AuthError
from tests.functional.features.conftest import deliver, history, make_group, protect
from tests.support.github import FakeGitHub

TOKEN = "ghs_fakeinstallationtoken0123456789"


@pytest.fixture
def github(clock: ManualClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(clock=clock, token=TOKEN) as fake:
        yield fake


def settings(sandbox: Sandbox, github: FakeGitHub, **kw: Any) -> Any:
    # These tests are about GitHub runners; the assignment lag bound (60 s) has its own tests in tests/judgment.
    kw.setdefault("assignment_lag_seconds", 5)
    return sandbox.settings(
        agent_system="github", github_api_url=github.url, github_org="acme", github_token=TOKEN, **kw
    )


def test_busy_runner_is_held_until_its_job_ends_then_released_and_deleted(
    sandbox: Sandbox, clock: ManualClock, github: FakeGitHub
) -> None:
    group = make_group(sandbox, size=3, agents=False)
    busy, idle, survivor = group.instances
    runners = {iid: github.add_runner(f"ci-{iid}", org="acme") for iid in group.instances}
    for n in range(130):  # other machines' runners: the list spans two pages of 100
        github.add_runner(f"laptop-{n}", org="acme")
    job = github.start_job(runners[busy], 300)
    protect(sandbox, "ci-agents", [survivor])
    gate = sandbox.gate(settings(sandbox, github))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)

    completes = history(sandbox, "complete")
    assert completes[idle][0]["result"] == "CONTINUE" and busy not in completes
    assert github.runner(runners[idle])["deleted"] and not github.runner(runners[busy])["deleted"]
    held = [r for r in sandbox.log.records if r["instance"] == busy]
    assert held and {r["outcome"] for r in held} == {"held"} and "busy" in held[-1]["reason"]
    assert all("disable" not in a for r in held for a in r.get("actions", []))  # nothing to disable on GitHub

    while github.jobs()[0]["finished_at"] is None:
        gate.tick()
    gate.tick()
    done = history(sandbox, "complete")[busy][0]
    finished = github.jobs()[0]["finished_at"]
    assert done["result"] == "CONTINUE" and done["time"] >= finished and done["time"] - finished <= 60
    deleted = github.runner(runners[busy])  # claimed (deleted) first: a deleted runner takes no job
    assert deleted["deleted"] and finished <= deleted["deleted_at"] <= done["time"]
    assert not github.runner(runners[survivor])["deleted"]
    assert not history(sandbox, "timeout") and job

    pages = [c for c in github.calls if c["method"] == "GET" and c["path"] == "/orgs/acme/actions/runners"]
    assert {c["query"].get("page") for c in pages} == {"1", "2"}  # Link rel="next" followed
    # Every call succeeded, except the list audit confirming that a runner the gate deleted is gone (one 404 each:
    # an empty or shortened list is believed only on such evidence, gate.service.sources).
    deleted_ids = {str(r) for r in runners.values() if github.runner(r)["deleted"]}
    failed = [c for c in github.calls if c["status"] not in (200, 204)]
    assert all(
        c["method"] == "GET" and c["status"] == 404 and c["path"].rsplit("/", 1)[-1] in deleted_ids for c in failed
    )
    assert len(failed) <= len(deleted_ids)
    assert TOKEN not in str(sandbox.log.records)


def test_a_job_landing_before_the_claim_keeps_the_instance(
    sandbox: Sandbox, clock: ManualClock, github: FakeGitHub
) -> None:
    group = make_group(sandbox, size=2, agents=False)
    victim = group.instances[0]
    runner = github.add_runner(f"ci-{victim}", org="acme")
    github.add_runner(f"ci-{group.instances[1]}", org="acme")
    protect(sandbox, "ci-agents", group.instances[1:])
    jobs: list[int] = []

    def race(runner_id: int) -> None:  # GitHub assigns a queued job after the gate's last look
        if not jobs:
            jobs.append(github.start_job(runner_id, 120))

    github.before_delete = race
    gate = sandbox.gate(settings(sandbox, github))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert jobs and not history(sandbox, "complete")  # the claim failed (HTTP 422): held, not terminated
    reasons = [r["reason"] for r in sandbox.log.records if r["instance"] == victim]
    assert any("failed" in r and "422" in r and "holding to retry" in r for r in reasons)
    assert not github.runner(runner)["deleted"]
    while github.jobs()[0]["finished_at"] is None:
        gate.tick()
    gate.tick()
    done = history(sandbox, "complete")[victim][0]
    assert done["time"] >= github.jobs()[0]["finished_at"] and github.runner(runner)["deleted"]


def test_github_unavailable_or_rate_limited_holds_fail_safe(
    sandbox: Sandbox, clock: ManualClock, github: FakeGitHub
) -> None:
    group = make_group(sandbox, size=2, agents=False)
    for iid in group.instances:
        github.add_runner(f"ci-{iid}", org="acme")
    protect(sandbox, "ci-agents", group.instances[1:])
    github.inject("rate_limit", seconds=100, retry_after=30)
    gate = sandbox.gate(settings(sandbox, github))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert not history(sandbox, "complete")
    reasons = [r["reason"] for r in sandbox.log.records]
    assert any("rate limited" in r and "fail safe" in r for r in reasons)
    # the client backs off instead of hammering: far fewer calls than re-check rounds
    assert sum(1 for c in github.calls if c["status"] == 403) <= 2
    clock.advance(120)
    gate.tick()
    assert history(sandbox, "complete")[group.instances[0]][0]["result"] == "CONTINUE"


def test_spot_warning_on_github_says_runners_cannot_be_disabled(
    sandbox: Sandbox, clock: ManualClock, github: FakeGitHub
) -> None:
    group = make_group(sandbox, size=1, agents=False)
    github.add_runner(f"ci-{group.instances[0]}", org="acme")
    event = {
        "source": "aws.ec2",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "region": "us-east-1",
        "detail": {"instance-id": group.instances[0], "instance-action": "terminate"},
    }
    [record] = dispatch(sandbox.gate(settings(sandbox, github)), event)
    assert record["outcome"] == "spot" and "1 cannot be disabled (github)" in record["reason"]


# -- the client against the fake: repositories, labels, auth, redirects off-host ---------------------------------
def test_repo_runners_labels_and_mapping_fields(github: FakeGitHub) -> None:
    rid = github.add_runner("ip-10-0-0-5", repo="acme/ci", labels=["AWS_INSTANCE_ID=i-0123456789abcdef0"])
    client = GitHubRunners(github.url, TOKEN, repos=["acme/ci"])
    [agent] = client.list_agents()
    assert (agent.id, agent.pool, agent.name) == (rid, "repo:acme/ci", "ip-10-0-0-5")
    assert agent.online and not agent.busy
    assert agent.capabilities["AWS_INSTANCE_ID"] == "i-0123456789abcdef0" and agent.computer_name == "ip-10-0-0-5"
    assert not agent.disableable and agent.drained
    github.start_job(rid, 60)
    assert client.list_agents()[0].busy
    with pytest.raises(AgentSourceError, match="HTTP 422"):
        client.delete(agent)  # GitHub refuses to delete a runner mid-job
    client.disable(agent)  # a no-op: nothing to call
    assert not any(c["method"] == "PATCH" for c in github.calls)


def test_bad_token_is_an_auth_error_and_never_logged(github: FakeGitHub) -> None:
    github.add_runner("x", org="acme")
    with pytest.raises(AuthError) as err:
        GitHubRunners(github.url, "ghp_wrongtoken000000000", org="acme").list_agents()
    assert "ghp_wrongtoken000000000" not in str(err.value)
    with pytest.raises(AgentSourceError, match="404"):
        GitHubRunners(github.url, TOKEN, org="other").list_agents()


def test_a_next_link_to_another_host_is_not_followed(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    github.add_scope(org="acme")
    client = GitHubRunners(github.url, TOKEN, org="acme")
    original = client.session.request

    def evil(method: str, url: str, **kw: Any) -> Any:
        resp = original(method, url, **kw)
        resp.headers["Link"] = '<https://evil.example/orgs/acme/actions/runners?page=2>; rel="next"'
        return resp

    monkeypatch.setattr(client.session, "request", evil)
    with pytest.raises(AgentSourceError, match="another host"):
        client.list_agents()
