"""The client over HTTP against the fake: the invocation deadline, pacing (Retry-After and X-RateLimit-* on any
answer), pagination that must end, and clock-only sleeping (so a simulator's scaled clock is respected)."""

from __future__ import annotations

import time

import pytest

from emulator.azure_devops import FakeAzureDevOps
from gate.domain.clock import ManualClock, ScaledClock
from gate.service.sources import AgentSourceError, DeadlineExceeded
from tests.integration.azure.conftest import PAT, api_calls, make_client


def test_no_call_starts_past_the_deadline(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    client.set_deadline(clock.now() - 1)
    with pytest.raises(DeadlineExceeded, match="deadline"):
        client.list_agents()
    assert api_calls(fake) == []
    client.set_deadline(None)
    assert len(client.list_agents()) == 6


def test_each_call_waits_at_most_the_time_left(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    # 1 wall second of delay, well within the client's own 30 s timeout: only a timeout cut to the 0.3 s left (the
    # ManualClock does not move) makes the call fail, so the failure itself is the proof (no wall-time bound)
    fake.inject("slow", count=None, delay=1.0)
    client = make_client(fake, clock, timeout=30.0, retries=0)
    client.set_deadline(clock.now() + 0.3)
    with pytest.raises(AgentSourceError, match="accepted the connection but did not answer within"):
        client.list_agents()


def test_latency_runs_the_deadline_out_between_pages(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("latency", count=None, delay=10)  # 10 s of clock time per request
    client = make_client(fake, clock)
    client.set_deadline(clock.now() + 15)
    with pytest.raises(DeadlineExceeded):
        client.list_agents()  # pools (0-10 s), page 1 (10-20 s); page 2 would start after the deadline
    assert len(api_calls(fake)) == 2 and clock.now() >= client.deadline.at  # type: ignore[operator]


def test_a_repeated_continuation_token_ends_pagination(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("endless_pages", count=None, path_contains="/agents")
    with pytest.raises(AgentSourceError, match="repeated"):
        make_client(fake, clock).list_agents()
    assert len(api_calls(fake, "/agents")) == 2  # page 1 gives a token; page 2 gives the same token back


def test_count_that_disagrees_with_value_is_an_error(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("count_mismatch", count=1, path_contains="/agents")
    with pytest.raises(AgentSourceError, match="count=4 but sent 3"):
        make_client(fake, clock).list_agents()


def test_retry_after_on_a_200_paces_the_next_call(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    client.pool_id("linux")
    fake.inject("slow_down", count=1, retry_after=3, path_contains="/agents")
    t0 = clock.now()
    assert len(client.list_agents()) == 6
    statuses = [c["status"] for c in api_calls(fake, "/agents")]
    assert statuses == [200, 200] and clock.now() - t0 >= 3  # page 2 waited the 3 s the service asked for
    times = [c["time"] for c in api_calls(fake, "/agents")]
    assert times[1] - times[0] >= 3


def test_rate_limit_remaining_zero_waits_for_the_reset(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    client.pool_id("linux")
    fake.inject("slow_down", count=1, retry_after=0, path_contains="/agents")  # Remaining 1: no wait
    client.list_agents()
    assert client._backoff_until <= clock.now()  # nothing to wait for
    fake.inject("rate_limit", count=1, retry_after=4)  # 429, Remaining 0, Reset = now + 4
    t0 = clock.now()
    client.list_agents()
    assert clock.now() - t0 >= 4


def test_a_wait_past_the_deadline_raises_with_retry_after(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock)
    client.set_deadline(clock.now() + 5)
    fake.inject("rate_limit", count=1, retry_after=10)
    with pytest.raises(DeadlineExceeded) as err:
        client.list_agents()
    assert err.value.retry_after == 10 and err.value.status == 429
    assert clock.now() < client.deadline.at  # type: ignore[operator]  # it did not sleep into the deadline


def test_a_day_long_retry_after_is_capped(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    client = make_client(fake, clock, max_retry_after=5)
    fake.inject("rate_limit", count=1, retry_after=86_400)
    with pytest.raises(AgentSourceError):
        client.list_agents()
    clock.advance(301)  # the back-off never outlives Azure's 5-minute usage window
    assert len(client.list_agents()) == 6


def test_retries_sleep_on_a_scaled_clock_not_wall_time() -> None:
    clock = ScaledClock(speed=60)
    with FakeAzureDevOps(clock=clock, pat=PAT) as fake:
        fake.add_pool("linux")
        fake.inject("rate_limit", count=1, retry_after=15)  # 15 s of simulated time = 0.25 s of wall time
        started = time.monotonic()
        assert make_client(fake, clock, backoff=0.5).list_agents() == []  # type: ignore[arg-type]
        assert time.monotonic() - started < 10  # 15 s of wall time if it slept on the wall clock; loaded: still < 10


def test_server_errors_back_off_on_the_clock(fake: FakeAzureDevOps, clock: ManualClock) -> None:
    fake.inject("server_error", count=2, status=503)
    t0 = clock.now()
    assert len(make_client(fake, clock, backoff=1.0).list_agents()) == 6
    assert clock.now() - t0 == pytest.approx(3.0)  # 1 s + 2 s of back-off, on the clock
