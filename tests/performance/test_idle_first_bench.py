"""The fleet simulation's idle-first strategy (the gate plus its custom termination policy): structural facts on a
small fleet, no timing assertions (the numbers come from `gate bench`; docs/performance.md, "Idle-first selection")."""

from __future__ import annotations

import dataclasses

import pytest

from bench.faults import Faults, Window
from bench.fleet import FleetConfig, StrategyResult, run_fleet, simulate

SMALL = FleetConfig(instances=20, hours=3, start_hour=14, seed=7)


@pytest.fixture(scope="module")
def small() -> dict[str, StrategyResult]:
    return run_fleet(SMALL, ("none", "gate", "idle-first"))


def test_idle_first_kills_nothing_and_runs_the_real_policy(small: dict[str, StrategyResult]) -> None:
    r = small["idle-first"]
    assert small["none"].builds_killed > 0
    assert r.builds_killed == r.hooks_timed_out == 0
    assert "error" not in r.decisions and not any(k.startswith("log:") for k in r.decisions)
    assert r.selection_invocations > 0 and r.selection_failures == 0
    # one agent list per invocation of the policy, beside the gate's own rounds
    assert r.azure_calls_by_kind["list agents (termination policy)"] == r.selection_invocations
    assert r.holds + r.holds_open_at_end == r.scale_in_victims  # the hook still gates every pick


def test_idle_first_holds_less_than_the_gate_alone(small: dict[str, StrategyResult]) -> None:
    assert small["idle-first"].held_instance_hours < small["gate"].held_instance_hours
    assert small["idle-first"].idle_instance_hours < small["gate"].idle_instance_hours


def test_agent_system_down_answers_every_candidate_and_kills_nothing() -> None:
    down = Faults("Azure down", azure_outage=Window(14.0, 3.0))
    r = simulate(dataclasses.replace(SMALL, faults=down), "idle-first")
    assert r.builds_killed == 0
    assert r.selection_invocations > 0 and r.selection_fallbacks == r.selection_invocations


def test_the_function_down_makes_the_scale_in_wait() -> None:
    down = Faults("gate down", gate_outage=Window(14.0, 4.0))  # the whole simulated afternoon
    r = simulate(dataclasses.replace(SMALL, faults=down), "idle-first")
    assert r.selection_failures == r.selection_invocations > 0
    assert r.scale_in_victims == 0 and r.builds_killed == 0
