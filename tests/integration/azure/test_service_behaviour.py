"""The client against the fake's real-service behaviours over HTTP: job requests as the service returns them, a
PATCH that cannot damage the agent, sign-in pages, api-version negotiation and Azure DevOps Server collections."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import gate.adapters.azure
from emulator.azure_devops import FakeAzureDevOps
from gate.adapters.azure import PatCredential
from gate.domain.clock import ManualClock
from gate.domain.model import Agent
from gate.service.sources import AgentSourceError, AuthError
from tests.integration.azure.conftest import PAT, api_calls, make_client


def agent_named(agents: list[Agent], agent_id: int) -> Agent:
    return next(a for a in agents if a.id == agent_id)


def test_job_requests_count_only_what_runs_on_the_agent(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    victim = agent_named(client.list_agents(), 1)
    client.disable(victim)  # drained, as the gate leaves it
    for agent_id in range(2, 7):
        fake.start_build(agent_id, 3600)
    backlog = [fake.queue_build("linux", 600) for _ in range(3)]  # queued, matched to every agent incl. 1
    assert client.job_requests(victim) == []  # a pool backlog does not make an idle agent busy
    raw = fake.calls[-1]
    assert raw["query"]["api-version"] == "7.2-preview.1" and raw["query"]["agentId"] == "1"
    clock.advance(3600)  # the backlog lands on the other agents: reserved by another, still listed for agent 1
    assert all(fake.build(b)["agent_id"] not in (None, 1) for b in backlog)
    assert client.job_requests(victim) == []
    fake.set_enabled(1, True)
    mine = fake.start_build(1, 60)
    assert [(j.request_id, j.agent_id, j.finished) for j in client.job_requests(victim)] == [(mine, 1, False)]


def test_finished_requests_are_finished(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    build = fake.start_build(1, 30)
    agent = agent_named(client.list_agents(), 1)
    assert [(j.request_id, j.finished) for j in client.job_requests(agent)] == [(build, False)]
    fake.finish_build(build, "canceled")
    assert [(j.request_id, j.finished) for j in client.job_requests(agent)] == [(build, True)]


def test_patch_sends_the_listed_record_and_keeps_parallelism_on_server(clock: ManualClock) -> None:
    with FakeAzureDevOps(clock=clock, pat=PAT, org="DefaultCollection", server="2020") as fake:
        fake.add_pool("linux")
        agent_id = fake.add_agent("linux", "a1")
        client = make_client(fake, clock, api_version="6.0")
        client.disable(client.list_agents()[0])
        state = fake.agent(agent_id)
        assert state is not None and state["enabled"] is False and state["max_parallelism"] == 1


def test_a_patch_that_changes_more_than_enabled_is_reported(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate.adapters.azure, "PATCH_FIELDS", ("id", "name", "enabled"))  # the old partial body
    with FakeAzureDevOps(clock=clock, pat=PAT, org="DefaultCollection", server="2022") as fake:
        fake.add_pool("linux")
        fake.add_agent("linux", "a1")
        client = make_client(fake, clock, api_version="7.0")
        with pytest.raises(
            AgentSourceError, match=re.escape("also changed {'maxParallelism': 1} to {'maxParallelism': 0}")
        ):
            client.disable(client.list_agents()[0])


def test_disable_without_a_listed_record_reads_it_first(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    pool = client.pool_id("linux")
    stranger = Agent("azure-devops", pool, "linux", 3, "agent-2", enabled=True)
    client.disable(stranger)
    assert [c["method"] for c in api_calls(fake, "/agents/3")] == ["GET", "PATCH"]
    fake.remove_agent(4)
    client.disable(Agent("azure-devops", pool, "linux", 4, "agent-3", enabled=True))  # gone: nothing to do
    assert [c["method"] for c in api_calls(fake, "/agents/4")] == ["GET"]


def test_the_client_suppresses_sign_in_pages(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    with pytest.raises(AuthError, match="HTTP 401"):
        make_client(fake, clock, credential="not-the-pat-000000").list_agents()
    assert [c["status"] for c in api_calls(fake)] == [401]  # a 401 JSON, not a 203 page
    fake.inject("signin", count=1)  # a 203 page anyway (a proxy, an old server): still an auth error
    with pytest.raises(AuthError, match="sign-in page"):
        make_client(fake, clock).list_agents()


@pytest.fixture(params=[("2020", "6.0"), ("2022", "7.0")])
def server(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[tuple[FakeAzureDevOps, str]]:
    release, latest = request.param
    with FakeAzureDevOps(clock=clock, pat=PAT, org="DefaultCollection", server=release, page_size=2) as fake:
        fake.add_pool("linux")
        for i in range(3):
            fake.add_agent("linux", f"agent-{i}")
        yield fake, latest


def test_server_collections_negotiate_the_api_version(server: tuple[FakeAzureDevOps, str], clock: ManualClock) -> None:
    fake, latest = server
    client = make_client(fake, clock)  # asks for 7.1 first
    agents = client.list_agents()
    assert len(agents) == 3 and client.api_version == latest
    statuses = [(c["status"], c["query"]["api-version"]) for c in api_calls(fake)]
    assert statuses[0] == (400, "7.1") and all(s == (200, latest) for s in statuses[1:])
    busy = fake.start_build(agents[0].id, 60)
    jobs = client.job_requests(agents[0])
    assert [(j.request_id, j.finished) for j in jobs] == [(busy, False)]
    assert client.job_requests_version == f"{latest}-preview.1"
    client.disable(agents[1])
    client.delete(agents[2])
    state = {a["id"]: a for a in fake.state()["agents"]}
    assert state[agents[1].id]["enabled"] is False and state[agents[1].id]["max_parallelism"] == 1
    assert state[agents[2].id]["deleted"]


def test_a_rotated_pat_is_re_read_after_a_401(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    store = {"pat": PAT}  # what Secrets Manager holds
    cache = {"pat": PAT}  # what the container read earlier
    reads: list[bool] = []

    def read(force: bool) -> str:
        reads.append(force)
        if force:
            cache["pat"] = store["pat"]
        return cache["pat"]

    client = make_client(fake, clock, credential=PatCredential(read))
    assert len(client.list_agents()) == 6
    fake.set_pat("rotated-pat-11112222333344445555")
    store["pat"] = "rotated-pat-11112222333344445555"  # Secrets Manager has the new value; the cache does not
    assert len(client.list_agents()) == 6
    assert True in reads and [c["status"] for c in api_calls(fake)][-3:] == [401, 200, 200]
    fake.set_pat("revoked-and-not-replaced-0000")
    with pytest.raises(AuthError):
        client.list_agents()  # the re-read gives the same value: no retry loop, an auth error (hold)
