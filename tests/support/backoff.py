"""botocore's client-side waits, taken out of the tests that run on a simulated clock.

A throttled call is retried by botocore after a back-off it sleeps in wall time (up to 20 s), and the adaptive retry
mode's token bucket makes later calls wait in wall time too (down to half a call a second). The gate runs on the
test's ManualClock, where those waits decide nothing: the gate's deadline, heartbeat cadence and holds all run on the
simulated clock, and the number of attempts (max_attempts) is unchanged. They only made the throttling tests sleep for
a minute and a half each. Production keeps both (gate/adapters/aws.py, RETRY_CONFIG)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.retries import adaptive, standard


@pytest.fixture(autouse=True)
def no_client_side_waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)

    def send_at_once(self: Any, request: Any, **kwargs: Any) -> None:
        return None  # the token bucket is still fed by the responses (on_receiving_response), never waited on

    monkeypatch.setattr(adaptive.ClientRateLimiter, "on_sending_request", send_at_once)
    yield
