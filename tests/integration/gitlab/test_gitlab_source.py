"""GitLabRunners against the fake GitLab: the agent-source contract over HTTP (lists, 404 -> None, positive job
evidence, pause, delete), the two set-ups (a runner per instance, a shared runner's managers), rate limits and
retries on the injected clock within the deadline, and auth failures told apart from missing objects."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.gitlab import FakeGitLab
from gate.adapters.gitlab import RUNNERS_POOL, GitLabRunners
from gate.domain.clock import ManualClock
from gate.domain.mapping import AgentIndex, Mapping
from gate.domain.model import Waiting
from gate.service.sources import AgentSourceError, AuthError, DeadlineExceeded
from tests.integration.gitlab.conftest import TOKEN

IID = "i-0123456789abcdef0"
OTHER = "i-0fedcba9876543210"


def source(fake: FakeGitLab, clock: ManualClock, **kw: Any) -> GitLabRunners:
    return GitLabRunners(fake.url, kw.pop("token", TOKEN), clock=clock, **kw)


def gets(fake: FakeGitLab, path: str) -> list[dict[str, Any]]:
    return [c for c in fake.calls if c["method"] == "GET" and c["path"] == path]


# -- a runner per instance ------------------------------------------------------------------------------------------
def test_runners_are_listed_once_across_pages_and_map_by_description(gitlab: FakeGitLab, clock: ManualClock) -> None:
    mine = gitlab.add_runner(f"ci-{IID}")
    for n in range(130):  # other machines' runners: two pages of 100
        gitlab.add_runner(f"laptop-{n}")
    listing = source(gitlab, clock).list_pools()
    assert listing.answered == {RUNNERS_POOL} and not listing.failed and len(listing.agents) == 131
    assert [c["query"]["page"] for c in gets(gitlab, "/api/v4/runners")] == ["1", "2"]
    [agent] = AgentIndex(listing.agents, Mapping.NAME).agents_for(Waiting("g", IID, "h"))
    assert agent.id == mine and agent.enabled and agent.disableable
    assert not agent.assigned_known  # the list says nothing of jobs: the decision must ask for them


def test_tags_map_by_capability_and_two_instance_tags_are_ambiguous(gitlab: FakeGitLab, clock: ManualClock) -> None:
    tagged = gitlab.add_runner("runner-a", tags=["linux", IID])
    keyed = gitlab.add_runner("runner-b", tags=[f"AWS_INSTANCE_ID={OTHER}"])
    both = gitlab.add_runner("runner-c", tags=[IID, OTHER])
    agents = source(gitlab, clock, mapping=Mapping.CAPABILITY).list_agents()
    index = AgentIndex(agents, Mapping.CAPABILITY)
    assert [a.id for a in index.agents_for(Waiting("g", IID, "h"))] == [tagged]
    assert [a.id for a in index.agents_for(Waiting("g", OTHER, "h"))] == [keyed]
    assert [a.agent.id for a in index.ambiguous_for(Waiting("g", IID, "h"))] == [both]
    assert len(gets(gitlab, f"/api/v4/runners/{tagged}")) == 1  # the list leaves tags out: one look each


def test_missing_runner_is_none_only_on_404(gitlab: FakeGitLab, clock: ManualClock) -> None:
    alive, gone = gitlab.add_runner(f"ci-{IID}"), gitlab.add_runner(f"ci-{OTHER}")
    client = source(gitlab, clock)
    client.delete(next(a for a in client.list_agents() if a.id == gone))
    found = client.get_agents(RUNNERS_POOL, [alive, gone])
    assert found[gone] is None and found[alive] is not None
    gitlab.inject("server_error", count=3)
    with pytest.raises(AgentSourceError, match="HTTP 503"):
        client.get_agents(RUNNERS_POOL, [gone])  # an error is never "gone"


def test_running_jobs_are_busy_and_finished_ones_are_evidence(gitlab: FakeGitLab, clock: ManualClock) -> None:
    rid = gitlab.add_runner(f"ci-{IID}")
    gitlab.add_manager(rid, "10.0.1.5")
    client = source(gitlab, clock)
    [agent] = client.list_agents()
    assert client.job_requests(agent) == []  # never ran a job
    job = gitlab.start_job(rid, 120)
    assert client.list_agents()[0].busy  # the list's job_execution_status "active": busy evidence
    [running] = client.job_requests(agent)
    assert (running.request_id, running.finished) == (job, False)
    assert gets(gitlab, f"/api/v4/runners/{rid}/jobs")[-2]["query"]["status"] == "running"
    clock.advance(121)
    [done] = client.job_requests(agent)
    assert done.finished and done.finished_at == pytest.approx(clock.now() - 1, abs=1)


def test_pause_drains_a_runner_and_delete_removes_it(gitlab: FakeGitLab, clock: ManualClock) -> None:
    rid = gitlab.add_runner(f"ci-{IID}")
    client = source(gitlab, clock)
    [agent] = client.list_agents()
    client.disable(agent)
    assert gitlab.runner(rid)["paused"] and not client.list_agents()[0].enabled
    with pytest.raises(ValueError):
        gitlab.start_job(rid, 60)  # GitLab gives a paused runner no job
    client.delete(agent)
    client.delete(agent)  # already gone: 404 is fine
    assert gitlab.runner(rid)["deleted"]


def test_an_old_gitlab_is_paused_with_active_false(clock: ManualClock) -> None:
    with FakeGitLab(clock=clock, token=TOKEN, version="14.6.1-ee") as old:
        rid = old.add_runner(f"ci-{IID}")
        client = source(old, clock)
        client.disable(client.list_agents()[0])
        assert old.runner(rid)["paused"]
        assert len(gets(old, "/api/v4/version")) == 1


# -- one runner shared by many instances: its managers ----------------------------------------------------------------
def test_shared_runner_managers_map_by_private_ip_and_are_never_paused(gitlab: FakeGitLab, clock: ManualClock) -> None:
    shared = gitlab.add_runner("fleet", tags=["docker"])
    mine = gitlab.add_manager(shared, "10.0.1.5")
    theirs = gitlab.add_manager(shared, "10.0.1.6")
    client = source(gitlab, clock, mapping=Mapping.IP)
    listing = client.list_pools()
    assert listing.answered == {shared} and {a.id for a in listing.agents} == {mine, theirs}
    index = AgentIndex(listing.agents, Mapping.IP, instances=[Waiting("g", IID, "h", private_ip="10.0.1.5")])
    [agent] = index.agents_for(Waiting("g", IID, "h", private_ip="10.0.1.5"))
    assert agent.id == mine and not agent.disableable and agent.drained

    other_job = gitlab.start_job(shared, 60, manager_id=theirs)
    assert client.job_requests(agent) == []  # the other machine's job is not this instance's
    listed = {a.id: a for a in client.list_agents()}
    assert listed[theirs].busy and not listed[mine].busy  # the manager's job_execution_status: "active"
    job = gitlab.start_job(shared, 60, manager_id=mine)
    assert [(j.request_id, j.finished) for j in client.job_requests(agent)] == [(job, False)]
    client.disable(agent)
    client.delete(agent)
    assert not gitlab.runner(shared)["paused"] and not gitlab.runner(shared)["deleted"]
    assert not [c for c in gitlab.calls if c["method"] in ("PUT", "DELETE")] and other_job


def test_a_job_without_its_manager_counts_for_every_manager(clock: ManualClock) -> None:
    with FakeGitLab(clock=clock, token=TOKEN, job_manager=False) as old:  # before GitLab 17.1
        shared = old.add_runner("fleet")
        a, b = old.add_manager(shared, "10.0.1.5"), old.add_manager(shared, "10.0.1.6")
        client = source(old, clock, mapping=Mapping.IP)
        old.start_job(shared, 60, manager_id=a)
        agents = {x.id: x for x in client.list_agents()}
        assert [j.finished for j in client.job_requests(agents[b])] == [False]  # may be b's: busy
        clock.advance(61)
        # finished, and naming no manager: evidence for every manager that no job of the runner runs any more
        assert [j.finished for j in client.job_requests(agents[b])] == [True]


def test_a_public_manager_address_fails_its_runner_instead_of_mapping_nothing(
    gitlab: FakeGitLab, clock: ManualClock
) -> None:
    shared = gitlab.add_runner("fleet")
    gitlab.add_manager(shared, "34.120.5.7")  # GitLab.com sees the NAT gateway's address
    listing = source(gitlab, clock, mapping=Mapping.IP).list_pools()
    assert not listing.answered and "non-private IP" in listing.failed[shared]


def test_system_id_mapping_works_where_gitlab_sees_a_nat_address(gitlab: FakeGitLab, clock: ManualClock) -> None:
    shared = gitlab.add_runner("fleet")
    mid = gitlab.add_manager(shared, "34.120.5.7", system_id="s_0123456789ab")  # GitLab.com: the NAT's address
    listing = source(gitlab, clock, mapping=Mapping.SYSTEM_ID).list_pools()
    assert listing.answered == {shared} and [a.id for a in listing.agents] == [mid]
    tagged = Waiting("g", IID, "h", tags={"gate:gitlab-system-id": "s_0123456789ab"})
    [agent] = AgentIndex(listing.agents, Mapping.SYSTEM_ID, instances=[tagged]).agents_for(tagged)
    assert agent.id == mid and not agent.disableable


def test_a_manager_is_none_only_when_its_runner_is_404(gitlab: FakeGitLab, clock: ManualClock) -> None:
    shared = gitlab.add_runner("fleet")
    mid = gitlab.add_manager(shared, "10.0.1.5")
    client = source(gitlab, clock, mapping=Mapping.IP)
    assert client.get_agents(shared, [mid])[mid] is not None
    with pytest.raises(AgentSourceError, match="no evidence"):
        client.get_agents(shared, [mid + 1])
    gitlab.runner(shared)
    client.delete(client.list_agents()[0])  # a manager: nothing deleted
    source(gitlab, clock).delete(source(gitlab, clock).list_agents()[0])  # the runner itself
    assert client.get_agents(shared, [mid]) == {mid: None}


# -- the service: auth, rate limits, retries, deadline ----------------------------------------------------------
def test_bad_token_is_an_auth_error_never_logged_and_404_is_distinct(gitlab: FakeGitLab, clock: ManualClock) -> None:
    gitlab.add_runner("x")
    with pytest.raises(AuthError) as err:
        source(gitlab, clock, token="glpat-wrongtoken00000000").list_agents()
    assert "glpat-wrongtoken00000000" not in str(err.value) and err.value.status == 401
    gitlab.inject("forbidden", count=1)
    with pytest.raises(AuthError):
        source(gitlab, clock).list_agents()
    with pytest.raises(AuthError):
        source(gitlab, clock, all_runners=True).list_agents()  # /runners/all needs an administrator
    gitlab.inject("not_found", count=1)
    with pytest.raises(AgentSourceError, match="404") as missing:
        source(gitlab, clock).list_agents()
    assert not isinstance(missing.value, AuthError)


def test_a_short_retry_after_is_slept_on_the_clock_a_long_one_backs_off(gitlab: FakeGitLab, clock: ManualClock) -> None:
    gitlab.add_runner("x")
    client = source(gitlab, clock)
    gitlab.inject("rate_limit", count=1, retry_after=5)
    t0 = clock.now()
    assert len(client.list_agents()) == 1 and clock.now() - t0 == pytest.approx(5)
    gitlab.inject("rate_limit", count=1, retry_after=90)
    with pytest.raises(AgentSourceError, match="rate limited") as err:
        client.list_agents()
    assert err.value.retry_after == pytest.approx(90)
    calls = len(gitlab.calls)
    with pytest.raises(AgentSourceError, match="backing off"):
        client.list_agents()
    assert len(gitlab.calls) == calls  # no request while backing off
    clock.advance(91)
    assert len(client.list_agents()) == 1


def test_ratelimit_remaining_zero_holds_calls_until_the_reset(clock: ManualClock) -> None:
    with FakeGitLab(clock=clock, token=TOKEN, rate_limit=1) as tight:
        tight.add_runner("x")
        client = source(tight, clock)
        assert len(client.list_agents()) == 1  # the answer says RateLimit-Remaining: 0
        with pytest.raises(AgentSourceError, match="backing off"):
            client.list_agents()
        assert len(tight.calls) == 1
        clock.advance(61)
        assert len(client.list_agents()) == 1


def test_server_errors_retry_on_the_clock_within_the_deadline(gitlab: FakeGitLab, clock: ManualClock) -> None:
    gitlab.add_runner("x")
    gitlab.inject("server_error", count=2)
    t0 = clock.now()
    assert len(source(gitlab, clock).list_agents()) == 1
    assert clock.now() - t0 == pytest.approx(1.5)
    gitlab.inject("server_error", count=2)
    client = source(gitlab, clock)
    client.set_deadline(clock.now() + 0.2)
    calls = len(gitlab.calls)
    with pytest.raises(DeadlineExceeded):
        client.list_agents()
    assert len(gitlab.calls) == calls + 1
    client.set_deadline(clock.now())
    with pytest.raises(DeadlineExceeded):
        client.list_agents()
    assert len(gitlab.calls) == calls + 1


def test_a_next_link_to_another_host_is_not_followed(
    gitlab: FakeGitLab, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitlab.add_runner("x")
    client = source(gitlab, clock)
    original = client.session.request

    def evil(method: str, url: str, **kw: Any) -> Any:
        resp = original(method, url, **kw)
        resp.headers["Link"] = '<https://evil.example/api/v4/runners?page=2>; rel="next"'
        return resp

    monkeypatch.setattr(client.session, "request", evil)
    with pytest.raises(AgentSourceError, match="another host"):
        client.list_agents()
