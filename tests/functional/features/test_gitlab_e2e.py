"""GitLab CI runners as the busy probe, end to end: the AWS emulator, the fake GitLab REST API (emulator.gitlab) and
the real handler. A runner per instance is paused on drain, held while a job of it runs, released once its jobs are
seen ended, and deleted; a shared runner is never paused and its managers' jobs hold their instances."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.gitlab import FakeGitLab
from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from tests.functional.features.conftest import deliver, history, make_group, protect

TOKEN = "glpat-fakegitlabtoken-e2e-0123456789"


@pytest.fixture
def gitlab(clock: ManualClock) -> Iterator[FakeGitLab]:
    with FakeGitLab(clock=clock, token=TOKEN) as fake:
        yield fake


def settings(sandbox: Sandbox, gitlab: FakeGitLab, **kw: Any) -> Any:
    # These tests are about GitLab runners; the assignment lag bound (60 s) has its own tests in tests/judgment.
    kw.setdefault("assignment_lag_seconds", 5)
    if "gitlab_token_secret_arn" not in kw:
        kw.setdefault("gitlab_token", TOKEN)
    return sandbox.settings(agent_system="gitlab", gitlab_url=gitlab.url, **kw)


def private_ips(sandbox: Sandbox, ids: list[str]) -> dict[str, str]:
    resp = sandbox.client("ec2").describe_instances(InstanceIds=ids)
    return {i["InstanceId"]: i["PrivateIpAddress"] for r in resp["Reservations"] for i in r["Instances"]}


def runners_per_instance(sandbox: Sandbox, gitlab: FakeGitLab, ids: list[str]) -> dict[str, int]:
    ips = private_ips(sandbox, ids)
    out = {}
    for iid in ids:
        out[iid] = gitlab.add_runner(f"ci-{iid}", tags=["docker"])
        gitlab.add_manager(out[iid], ips[iid])
    return out


def test_busy_runner_is_held_and_heartbeated_then_released_and_deleted(
    sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab
) -> None:
    group = make_group(sandbox, size=3, agents=False)
    busy, idle, survivor = group.instances
    runners = runners_per_instance(sandbox, gitlab, list(group.instances))
    for n in range(130):  # other machines' runners: the list spans two pages of 100
        gitlab.add_runner(f"laptop-{n}")
    gitlab.start_job(runners[busy], 300)
    protect(sandbox, "ci-agents", [survivor])
    gate = sandbox.gate(settings(sandbox, gitlab, heartbeat_interval_seconds=60))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)

    completes = history(sandbox, "complete")
    assert completes[idle][0]["result"] == "CONTINUE" and busy not in completes
    assert gitlab.runner(runners[idle])["deleted"] and not gitlab.runner(runners[busy])["deleted"]
    assert gitlab.runner(runners[busy])["paused"]  # drained: GitLab hands it no new job
    gate.tick()  # the next look after the pause: its running job holds it
    held = [r for r in sandbox.log.records if r["instance"] == busy]
    assert held and {r["outcome"] for r in held} == {"held"} and "busy" in held[-1]["reason"]

    while gitlab.jobs()[0]["finished_at"] is None:
        gate.tick()
    gate.tick()
    done = history(sandbox, "complete")[busy][0]
    finished = gitlab.jobs()[0]["ends_at"]
    assert done["result"] == "CONTINUE" and done["time"] >= finished
    assert history(sandbox, "heartbeat")[busy]  # the hold outlived heartbeats: it was kept alive
    assert gitlab.runner(runners[busy])["deleted"] and not gitlab.runner(runners[survivor])["deleted"]
    assert not history(sandbox, "timeout")
    pages = [c for c in gitlab.calls if c["method"] == "GET" and c["path"] == "/api/v4/runners"]
    assert {c["query"].get("page") for c in pages} == {"1", "2"}
    assert TOKEN not in str(sandbox.log.records)


def test_a_job_picked_up_between_the_look_and_the_pause_keeps_the_instance(
    sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab
) -> None:
    group = make_group(sandbox, size=2, agents=False)
    victim = group.instances[0]
    runners = runners_per_instance(sandbox, gitlab, list(group.instances))
    protect(sandbox, "ci-agents", group.instances[1:])
    jobs: list[int] = []

    def race(runner_id: int) -> None:  # the runner asked for a job just before the pause landed
        if not jobs and runner_id == runners[victim]:
            jobs.append(gitlab.start_job(runner_id, 120))

    gitlab.before_pause = race
    gate = sandbox.gate(settings(sandbox, gitlab))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert jobs and not history(sandbox, "complete")
    assert not gitlab.runner(runners[victim])["deleted"]
    while gitlab.jobs()[0]["finished_at"] is None:
        gate.tick()
    gate.tick()
    done = history(sandbox, "complete")[victim][0]
    assert done["time"] >= gitlab.jobs()[0]["ends_at"] and gitlab.runner(runners[victim])["deleted"]


def test_a_runner_missing_from_the_list_is_not_idle(sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab) -> None:
    group = make_group(sandbox, size=2, agents=False)
    victim = group.instances[0]
    runners = runners_per_instance(sandbox, gitlab, list(group.instances))
    protect(sandbox, "ci-agents", group.instances[1:])
    gitlab.start_job(runners[victim], 60)
    gate = sandbox.gate(settings(sandbox, gitlab))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    gitlab.hidden.add(runners[victim])  # the list now leaves it out; asked alone, it still exists
    while gitlab.jobs()[0]["finished_at"] is None:
        gate.tick()
    for _ in range(3):
        gate.tick()
    assert victim not in history(sandbox, "complete") and not history(sandbox, "timeout")
    reasons = [r["reason"] for r in sandbox.log.records if r["instance"] == victim]
    assert any("incomplete" in r for r in reasons[-3:]), reasons[-3:]
    gitlab.hidden.clear()
    gate.tick()
    gate.tick()
    assert history(sandbox, "complete")[victim][0]["result"] == "CONTINUE"


def test_gitlab_unavailable_or_rate_limited_holds_fail_safe(
    sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab
) -> None:
    group = make_group(sandbox, size=2, agents=False)
    runners_per_instance(sandbox, gitlab, list(group.instances))
    protect(sandbox, "ci-agents", group.instances[1:])
    gitlab.inject("rate_limit", seconds=100, retry_after=30)
    gate = sandbox.gate(settings(sandbox, gitlab))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert not history(sandbox, "complete")
    assert any("rate limited" in r["reason"] and "fail safe" in r["reason"] for r in sandbox.log.records)
    assert sum(1 for c in gitlab.calls if c["status"] == 429) <= 2  # backs off instead of hammering
    clock.advance(120)
    gitlab.inject("server_error", count=50)
    gate.tick()
    assert not history(sandbox, "complete")
    assert any("HTTP 503" in r["reason"] for r in sandbox.log.records[-3:])
    gitlab.clear_faults()
    gate.tick()
    gate.tick()
    assert history(sandbox, "complete")[group.instances[0]][0]["result"] == "CONTINUE"


def test_a_refused_token_is_read_again_from_secrets_manager(
    sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab
) -> None:
    group = make_group(sandbox, size=2, agents=False)
    runners_per_instance(sandbox, gitlab, list(group.instances))
    protect(sandbox, "ci-agents", group.instances[1:])
    sm = sandbox.client("secretsmanager")
    arn = str(
        sm.create_secret(Name="gate-gitlab-token", SecretString=json.dumps({"token": "glpat-old-revoked-00"}))["ARN"]
    )
    gate = sandbox.gate(settings(sandbox, gitlab, gitlab_token_secret_arn=arn))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert not history(sandbox, "complete")  # 401: held, never released on a refusal
    assert any("401" in r["reason"] for r in sandbox.log.records)
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"token": TOKEN}))
    for _ in range(20):  # each tick re-checks on the clock: the re-read waits out its back-off step
        if history(sandbox, "complete"):
            break
        gate.tick()
    assert not history(sandbox, "timeout")
    assert history(sandbox, "complete")[group.instances[0]][0]["result"] == "CONTINUE"
    assert TOKEN not in str(sandbox.log.records) and "glpat-old-revoked-00" not in str(sandbox.log.records)


@pytest.mark.parametrize("mapping", ["ip", "system-id"])
def test_a_shared_runner_is_never_paused_and_its_managers_jobs_hold(
    sandbox: Sandbox, clock: ManualClock, gitlab: FakeGitLab, mapping: str
) -> None:
    group = make_group(sandbox, size=3, agents=False)
    busy, idle, survivor = group.instances
    ips = private_ips(sandbox, list(group.instances))
    shared = gitlab.add_runner("autoscaled-fleet", tags=["docker"])
    managers = {}
    for n, iid in enumerate(group.instances):
        # system-id: GitLab.com sees one NAT address for all; each instance tags itself with its manager's id
        address = ips[iid] if mapping == "ip" else "34.120.5.7"
        managers[iid] = gitlab.add_manager(shared, address, system_id=f"s_{n:012d}")
        if mapping == "system-id":
            sandbox.client("ec2").create_tags(
                Resources=[iid], Tags=[{"Key": "gate:gitlab-system-id", "Value": f"s_{n:012d}"}]
            )
    gitlab.start_job(shared, 300, manager_id=managers[busy])
    protect(sandbox, "ci-agents", [survivor])
    gate = sandbox.gate(settings(sandbox, gitlab, mapping=mapping))
    sandbox.scale_to("ci-agents", 1)
    deliver(gate, sandbox)
    assert history(sandbox, "complete")[idle][0]["result"] == "CONTINUE" and busy not in history(sandbox, "complete")
    while gitlab.jobs()[0]["finished_at"] is None:
        gate.tick()
    gate.tick()
    assert history(sandbox, "complete")[busy][0]["time"] >= gitlab.jobs()[0]["ends_at"]
    runner = gitlab.runner(shared)
    assert not runner["paused"] and not runner["deleted"]  # the fleet's runner keeps serving the others
    assert not [c for c in gitlab.calls if c["method"] in ("PUT", "DELETE")]
