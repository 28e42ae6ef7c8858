"""`gate doctor` judges foreign hooks against the gate's longest hold, as the gate does (issue 22).

With priority tiers (GATE_TIERS) a hold may last longer than GATE_MAX_HOLD_SECONDS: the tick reports a foreign
ABANDON hook that would end the wait before the longest tier's hold (gate.service.passes). Doctor used to compare it
with GATE_MAX_HOLD_SECONDS alone and said all was well where the tick said error.

Over HTTP: the AWS emulator (a second terminating hook), the fake Azure DevOps, `gate doctor` through the CLI, and
the real gate's tick on the world's ManualClock.
"""

from __future__ import annotations

import json

import pytest

from tests.functional.liveness.conftest import busy, lambda_for
from tests.functional.safety.conftest import doctor
from tests.functional.safety.test_foreign_hooks import FOREIGN, foreign_errors, put_hook
from tests.support.world import World, world

__all__ = ["world"]  # the live world fixture (tests/support/world.py)

# GATE_MAX_HOLD_SECONDS 600 s, a release tier of 3,600 s; the foreign hook ends the wait at 1,200 s: after the
# default hold, before the release tier's.
TIERS = [{"name": "release", "max_hold_seconds": 3600, "forced_result": "ABANDON", "plan_type": ["Release"]}]


def test_doctor_reports_a_foreign_hook_shorter_than_the_longest_tier_like_the_tick(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_hook(world, FOREIGN, 1200, "ABANDON")
    waiting = world.scale_in(2)
    busy(world, waiting, 3600)
    fn = lambda_for(world, max_hold_seconds=600, tiers=json.dumps(TIERS))
    fn.minutes(1, events=False)
    [error] = foreign_errors(fn.records)
    assert "before the gate's max hold (3600 s)" in error["reason"], error

    result = doctor(world, monkeypatch, max_hold_seconds="600", tiers=json.dumps(TIERS))
    assert result.exit_code == 2, result
    [line] = [x for x in result.stdout.splitlines() if FOREIGN in x]
    assert line.startswith(f"FIX group ci-agents: terminating lifecycle hook {FOREIGN} (DefaultResult ABANDON"), line
    assert "before the gate's max hold (3600 s)" in line, line


def test_without_the_tier_neither_reports_it(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    put_hook(world, FOREIGN, 1200, "ABANDON")
    fn = lambda_for(world, max_hold_seconds=600)
    fn.minutes(1, events=False)
    assert not foreign_errors(fn.records), fn.records
    result = doctor(world, monkeypatch, max_hold_seconds="600")
    assert "other terminating hooks on ci-agents cannot end a hold early" in result.stdout, result
    assert result.exit_code == 0, result
