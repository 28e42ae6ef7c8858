"""The fleet simulation's priority tiers (issue 22, item 4): builds say what they are, a run with BENCH_TIERS is
compared with the default tier on the same day, per kind of build. Structural facts on a small fleet, no timing
assertions (the numbers come from `gate bench`; docs/performance.md, "Priority tiers")."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.fleet import BENCH_TIERS, TIERED, FleetConfig, simulate, tiers_comparison, with_tiers
from bench.workload import KINDS, WorkloadConfig, generate

SMALL = FleetConfig(instances=30, hours=4, start_hour=14, seed=7)


@pytest.fixture(scope="module")
def comparison() -> dict[str, Any]:
    cfg = SMALL
    return tiers_comparison(cfg, {}, generate(cfg.workload()))


def test_kinds_come_from_their_own_stream() -> None:
    """The shares change what builds are, never when they come or how long they run."""
    base = WorkloadConfig(capacity=30, hours=4, start_hour=14, seed=3)
    other = dataclasses.replace(base, release_share=0.5, pr_share=0.0)
    a, b = generate(base), generate(other)
    assert [(x.arrival, x.duration) for x in a] == [(x.arrival, x.duration) for x in b]
    assert {x.kind for x in a} == set(KINDS) and {x.kind for x in b} == {"release", "ci"}


def test_every_strategy_runs_with_the_default_and_with_the_tiers(comparison: dict[str, Any]) -> None:
    runs = [(r["strategy"], r["tier_config"]) for r in comparison["runs"]]
    assert runs == [(s, c) for s in TIERED for c in ("default", "tiers")]
    assert comparison["tiers"] == [dict(t) for t in BENCH_TIERS]


def test_the_counts_per_kind_add_up(comparison: dict[str, Any]) -> None:
    builds = len(generate(SMALL.workload()))
    for run in comparison["runs"]:
        kinds = run["by_kind"]
        assert set(kinds) == {*KINDS, "idle"}
        assert sum(k["builds"] for k in kinds.values()) == builds
        assert sum(k["builds_killed"] for k in kinds.values()) == run["builds_killed"]
        held = sum(k["held_instance_hours"] for k in kinds.values())
        assert held == pytest.approx(run["held_instance_hours"], abs=0.05)


def test_only_the_pull_request_tier_gives_builds_up(comparison: dict[str, Any]) -> None:
    """The default tier (4 h) outlasts every build (at most 2 h): nothing is forced. With the tiers a pull-request
    build held 30 minutes is released and dies (a forced CONTINUE); a release build is never killed."""
    for run in comparison["runs"]:
        kinds = run["by_kind"]
        if run["tier_config"] == "default":
            assert run["builds_killed"] == 0 and all(k["forced"] == 0 for k in kinds.values())
        else:
            assert kinds["pr"]["builds_killed"] == kinds["pr"]["forced"] == run["builds_killed"]
        assert kinds["release"]["builds_killed"] == kinds["ci"]["builds_killed"] == 0
    gate = next(r for r in comparison["runs"] if (r["strategy"], r["tier_config"]) == ("gate", "tiers"))
    assert gate["by_kind"]["pr"]["forced"] > 0


def test_the_gate_logs_no_error_with_the_tiers() -> None:
    r = simulate(with_tiers(SMALL), "gate")
    assert r.tier_config == "tiers"
    assert "error" not in r.decisions and not any(k.startswith("log:") for k in r.decisions), r.decisions
