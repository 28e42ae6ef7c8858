"""gate.adapters.azure.AzureDevOps against the fake server over HTTP: paging, retries, back-off, auth, redaction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from emulator.azure_devops import FakeAzureDevOps
from gate.adapters.azure import AzureDevOps
from gate.domain.clock import ManualClock
from gate.service.sources import AgentSourceError, AuthError

PAT = "pat-for-client-tests-9f8e7d6c5b4a"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeAzureDevOps]:
    with FakeAzureDevOps(clock=clock, pat=PAT, page_size=4) as server:
        server.add_pool("linux")
        for i in range(10):
            server.add_agent(
                "linux", f"agent-i-0123456789abcde{i:02d}"[:30], capabilities={"AWS_INSTANCE_ID": f"i-{i}"}
            )
        yield server


def client(fake: FakeAzureDevOps, clock: ManualClock, pat: str = PAT, **kw: object) -> AzureDevOps:
    opts: dict[str, object] = {"backoff": 0.01, "timeout": 2.0}
    opts.update(kw)
    return AzureDevOps(fake.url, pat, ["linux"], clock=clock, **opts)  # type: ignore[arg-type]


def agent_calls(fake: FakeAzureDevOps) -> list[dict]:
    return [c for c in fake.calls if c["path"].endswith("/agents")]


def test_lists_all_pages_with_busy_flag_and_capabilities(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    first = fake.state()["agents"][0]["id"]
    fake.start_build(first, 60)
    agents = client(fake, clock).list_agents()
    assert len(agents) == 10 and len(agent_calls(fake)) == 3  # 4 + 4 + 2 per page
    busy = [a for a in agents if a.busy]
    assert [a.id for a in busy] == [first] and busy[0].assigned_request is not None
    assert agents[0].capabilities["AWS_INSTANCE_ID"] == "i-0" and agents[0].enabled and agents[0].online


def test_disable_delete_and_job_requests(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    c = client(fake, clock)
    a = c.list_agents()[0]
    fake.start_build(a.id, 30)
    c.disable(a)
    assert fake.agent(a.id)["enabled"] is False and fake.agent(a.id)["busy"] is True  # the build keeps running
    assert [j.finished for j in c.job_requests(a)] == [False]
    clock.advance(31)
    assert all(j.finished for j in c.job_requests(a))
    c.delete(a)
    assert fake.agent(a.id)["deleted"]
    c.delete(a)  # already gone: 404 is success
    c.disable(a)


def test_short_retry_after_is_honoured_and_retried(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("rate_limit", count=1, retry_after=4)
    t0, started = clock.now(), time.monotonic()
    assert len(client(fake, clock).list_agents()) == 10
    assert clock.now() - t0 >= 4 and time.monotonic() - started < 4  # slept Retry-After on the injected clock
    assert [c["status"] for c in fake.calls][:2] == [429, 200]


def test_long_retry_after_is_not_slept_on_but_backs_off(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("rate_limit", count=1, retry_after=120)
    c = client(fake, clock, max_retry_after=5)
    started = time.monotonic()
    with pytest.raises(AgentSourceError) as err:
        c.list_agents()
    assert time.monotonic() - started < 5 and err.value.status == 429 and err.value.retry_after == 120
    served = len(fake.calls)
    with pytest.raises(AgentSourceError, match="backing off"):
        c.list_agents()
    assert len(fake.calls) == served  # no request sent during the back-off
    clock.advance(121)
    assert len(c.list_agents()) == 10


def test_server_errors_are_retried_then_reported(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("server_error", count=2, status=503)
    assert len(client(fake, clock).list_agents()) == 10
    fake.inject("server_error", count=None, status=500)
    with pytest.raises(AgentSourceError, match="HTTP 500"):
        client(fake, clock, retries=2).list_agents()


@pytest.mark.parametrize(
    ("kind", "error", "text"),
    [
        ("unauthorized", AuthError, "PAT"),
        ("signin", AuthError, "sign-in page"),
        ("malformed", AgentSourceError, "not JSON"),
        ("down", AgentSourceError, "the connection without answering"),
    ],
)
def test_faults_become_source_errors(
    fake: FakeAzureDevOps, clock: ManualClock, kind: str, error: type[Exception], text: str
) -> None:
    fake.inject(kind, count=None)
    with pytest.raises(error, match=text) as exc:
        client(fake, clock, retries=1).list_agents()
    assert PAT not in str(exc.value)


def test_slow_server_times_out(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("slow", count=None, delay=1.5)
    with pytest.raises(AgentSourceError, match="accepted the connection but did not answer within"):
        client(fake, clock, timeout=0.5, retries=0).list_agents()


def test_wrong_pat_and_unknown_pool(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    with pytest.raises(AuthError) as exc:
        client(fake, clock, pat="wrong-pat-value-123").list_agents()
    assert "wrong-pat-value-123" not in str(exc.value)
    with pytest.raises(AgentSourceError, match="not found"):
        AzureDevOps(fake.url, PAT, ["nope"], clock=clock).list_agents()
