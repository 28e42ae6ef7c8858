"""Soak: zero builds killed, no hook timed out under a build, every terminated instance's agent deleted, the gate's
own memory flat. The short run is part of `make test`; `make soak` runs the long one (100 instances)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.functional.reliability.soak import SoakResult, run_soak

RESULTS = Path(__file__).resolve().parents[3] / "bench-results"


def check(res: SoakResult, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(res.__dict__, indent=2))
    print(f"\n{name}: {json.dumps(res.__dict__)}")
    assert res.builds > 0 and res.builds_finished == res.builds  # every build ran to its end
    assert res.instances_terminated > 0 and res.hooks_completed >= res.instances_terminated
    assert res.builds_killed == 0
    assert res.timeouts_during_build == 0
    assert res.agents_left_behind == []
    assert res.outcomes.get("released", 0) > 0 and res.outcomes.get("held", 0) > 0
    mem = res.gate_memory_kib
    if not mem:
        return
    assert len(mem) >= 3 and mem[-1] <= max(mem[1:-1]) * 1.5 + 512, mem  # no growth beyond the warm-up level


@pytest.mark.timeout(600)
def test_soak_short() -> None:
    check(run_soak(instances=12, minutes=10, speed=40, seed=3, max_build=420, track_memory=False), "soak-short")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_soak_long() -> None:
    minutes = float(os.environ.get("GATE_SOAK_MINUTES", "60"))
    check(run_soak(instances=100, minutes=minutes, speed=float(os.environ.get("GATE_SOAK_SPEED", "10"))), "soak-long")
