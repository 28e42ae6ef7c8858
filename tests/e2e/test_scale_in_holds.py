"""End to end over HTTP, the fault and cap runs: Azure DevOps down, the max hold (forced CONTINUE, and ABANDON with
retention), and the same scale-in without the gate. Set-up in scale_in_runs.py; verdicts from the servers' own
records."""

from __future__ import annotations

import pytest

from emulator.scenario import BuildSpec, FaultSpec, Run, ScaleSpec, Scenario
from tests.e2e.scale_in_runs import SPEED, history, outcomes, run

pytestmark = pytest.mark.e2e


def test_azure_devops_down_holds_then_releases() -> None:
    r = run(faults=[FaultSpec(at=10, kind="down", seconds=150)])
    busy, idle, _ = r.instances
    completes = history(r, "complete")
    assert r.result.builds_killed == 0 and r.result.hooks_timed_out == 0
    assert r.t0 is not None and completes[idle][0]["time"] >= r.t0 + 160  # nothing released during the outage
    reasons = [rec["reason"] for rec in r.log.records if rec.get("instance") == idle]
    assert any("unavailable" in reason and "fail safe" in reason for reason in reasons)
    assert outcomes(r, idle)[-1] == "released" and outcomes(r, busy)[-1] == "released"


def test_max_hold_forces_completion() -> None:
    # The build outlasts the cap (hold from ~20 s, forced by ~200 s at the latest tick) with room to spare.
    r = run(builds=[BuildSpec(instance=0, start=0, duration=400)], settings={"max_hold_seconds": 120})
    busy = r.instances[0]
    assert outcomes(r, busy)[-1] == "forced" and r.result.forced == 1
    assert r.result.hooks_timed_out == 0
    assert r.result.builds_killed == 1  # forced CONTINUE terminates: the cost of the cap, counted honestly


def test_forced_abandon_with_retention_keeps_the_build_alive() -> None:
    r = run(
        builds=[BuildSpec(instance=0, start=0, duration=300)],
        retain_on_abandon=True,
        settings={"max_hold_seconds": 120, "forced_result": "ABANDON"},
    )
    busy = r.instances[0]
    assert "forced" in outcomes(r, busy)
    assert history(r, "complete")[busy][0]["result"] == "ABANDON"
    assert r.result.builds_killed == 0 and r.sandbox.ado.builds()[0]["result"] == "succeeded"  # type: ignore[union-attr]
    # the retained instance keeps its (disabled) agent while the build runs; the tick cleans both up once it is idle
    agent = r.sandbox.ado.agent(r.agents[busy])  # type: ignore[union-attr]
    build = r.sandbox.ado.builds()[0]  # type: ignore[union-attr]
    assert agent is not None and (not agent["deleted"] or agent["deleted_at"] >= build["finished_at"])


def test_without_the_gate_builds_are_killed() -> None:
    r = Run(
        Scenario(
            instances=3,
            builds=[BuildSpec(instance=i, start=0, duration=300) for i in range(3)],
            scale=[ScaleSpec(at=20, desired=1)],
            max_seconds=200,
        ),
        speed=SPEED,
        gate=False,
    )
    result = r.run()
    assert result.builds_killed == 2
