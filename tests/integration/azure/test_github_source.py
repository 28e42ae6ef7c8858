"""GitHubRunners obeys the same agent-source contract over HTTP: the deadline, identity lookups (404 -> None) and
retries that sleep on the injected clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gate.adapters.github import GitHubRunners
from gate.domain.clock import ManualClock
from gate.service.sources import DeadlineExceeded
from tests.support.github import FakeGitHub

TOKEN = "ghs_fakeinstallationtoken_azuretests01"


@pytest.fixture
def github(clock: ManualClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(clock=clock, token=TOKEN) as fake:
        yield fake


def test_get_agents_maps_404_to_none(github: FakeGitHub, clock: ManualClock) -> None:
    rid = github.add_runner("ci-1", org="acme")
    gone = github.add_runner("ci-2", org="acme")
    client = GitHubRunners(github.url, TOKEN, org="acme", clock=clock)
    client.delete(next(a for a in client.list_agents() if a.id == gone))
    github.start_job(rid, 60)
    found = client.get_agents(1, [rid, gone])
    assert found[gone] is None
    runner = found[rid]
    assert runner is not None and runner.busy and runner.pool == "org:acme"


def test_no_call_starts_past_the_deadline(github: FakeGitHub, clock: ManualClock) -> None:
    github.add_runner("ci-1", org="acme")
    client = GitHubRunners(github.url, TOKEN, org="acme", clock=clock)
    client.set_deadline(clock.now())
    with pytest.raises(DeadlineExceeded):
        client.list_agents()
    assert github.calls == []


def test_server_errors_back_off_on_the_clock(github: FakeGitHub, clock: ManualClock) -> None:
    github.add_runner("ci-1", org="acme")
    github.inject("server_error", count=2)
    t0 = clock.now()
    assert len(GitHubRunners(github.url, TOKEN, org="acme", clock=clock).list_agents()) == 1
    assert clock.now() - t0 == pytest.approx(1.5)  # 0.5 s + 1 s of back-off, on the clock, not in wall time


def test_a_retry_that_would_cross_the_deadline_is_not_made(github: FakeGitHub, clock: ManualClock) -> None:
    github.add_runner("ci-1", org="acme")
    github.inject("server_error", count=2)
    client = GitHubRunners(github.url, TOKEN, org="acme", clock=clock)
    client.set_deadline(clock.now() + 0.2)
    with pytest.raises(DeadlineExceeded):
        client.list_agents()
    assert len(github.calls) == 1
