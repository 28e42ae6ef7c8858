"""The real Lambda entry point (`gate.handler.handle`) over the live local world: settings from GATE_* variables, the
credential by ARN from the AWS emulator's Secrets Manager, endpoints from AWS_ENDPOINT_URL, a Lambda context whose
remaining time runs on the world's ManualClock, and the gate's log lines captured. One module-level gate per
"container", as in AWS: `cold()` starts a new one."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gate import bootstrap, handler
from gate.adapters import logs, secrets
from gate.domain.clock import ManualClock
from tests.support.world import FAST, World

TICK: dict[str, Any] = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
FUNCTION_TIMEOUT = 70.0  # the Terraform module's default for a 50 s budget


class Context:
    """The slice of the Lambda context the handler reads, on the world's clock."""

    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:asg-termination-gate"
    aws_request_id = "test-request"

    def __init__(self, clock: ManualClock, timeout: float = FUNCTION_TIMEOUT) -> None:
        self.clock = clock
        self.ends = clock.now() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.ends - self.clock.now()) * 1000)


@dataclass
class LambdaEnv:
    world: World
    monkeypatch: pytest.MonkeyPatch
    stream: io.StringIO = field(default_factory=io.StringIO)
    results: list[dict[str, Any]] = field(default_factory=list)

    def configure(self, **settings: Any) -> None:
        group = self.world.group
        env = {
            "GATE_AZURE_ORG_URL": self.world.sb.azure_url,
            "GATE_POOLS": group.pool,
            "GATE_GROUPS": group.name,
            "GATE_HOOK_NAME": group.hook,
            "AWS_ENDPOINT_URL": self.world.sb.aws_endpoint,
            "AWS_REGION": "us-east-1",
            **{f"GATE_{k.upper()}": str(v) for k, v in {**FAST, "tick_budget_seconds": 40, **settings}.items()},
        }
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)

    def cold(self) -> None:
        """A new container: no gate, no cached secret."""
        self.monkeypatch.setattr(bootstrap, "_gate", None)
        self.monkeypatch.setattr(secrets, "_cache", {})
        self.monkeypatch.setattr(
            logs, "_invocations", 0
        )  # its first invocation is a cold start (gate/adapters/logs.py)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        result = handler.handle(event, Context(self.world.clock))
        self.results.append(result)
        return result

    def minutes(self, n: int) -> None:
        """`n` scheduled ticks a minute apart (lifecycle events are best effort: the tick alone is enough)."""
        for _ in range(n):
            start = self.world.clock.now()
            self.world.sb.receive_events()
            self.invoke(TICK)
            left = start + 60 - self.world.clock.now()
            if left > 0:
                self.world.clock.advance(left)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def decisions(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == "decision"]

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def lambda_env(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaEnv]:
    env = LambdaEnv(world, monkeypatch)
    real_configure = logs.configure
    monkeypatch.setattr(logs, "configure", lambda stream=None, level="INFO": real_configure(env.stream, level))
    # The handler builds its gate on the system clock; here, on the world's ManualClock (sleeps advance it).
    monkeypatch.setattr(bootstrap, "SystemClock", lambda: world.clock)
    monkeypatch.setattr("gate.service.triggers.SystemClock", lambda: world.clock)
    env.cold()
    yield env
    real_configure()
