"""The reliability tests' live world (ManualClock, AWS emulator, fake Azure DevOps, real gate over HTTP), with the
default assignment lag bound (60 s): the reliability tests shorten it, these tests are about it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.sandbox import Sandbox
from gate.domain.clock import ManualClock
from gate.service.triggers import Gate
from tests.support.world import FAST, World

LAG = 60.0


class JudgmentWorld(World):
    def gate(self, **overrides: Any) -> Gate:
        return super().gate(**{"assignment_lag_seconds": LAG, **overrides})


@pytest.fixture
def world() -> Iterator[World]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        group = sb.create_group("ci-agents", 3, heartbeat_timeout=300)
        yield JudgmentWorld(sb, clock, group)


@pytest.fixture
def retaining() -> Iterator[World]:
    clock = ManualClock()
    with Sandbox(clock) as sb:
        group = sb.create_group("ci-agents", 2, heartbeat_timeout=300, retain_on_abandon=True)
        yield JudgmentWorld(sb, clock, group)


__all__ = ["FAST", "LAG", "JudgmentWorld"]
