"""The fleet simulation's `rerun_killed` option (issue 22's added baseline: users re-run the builds a scale-in
killed): a killed build is queued again at once with its full duration and metadata, a re-run can be killed and
re-run again, and a strategy that kills nothing re-runs nothing. A tiny fleet, structural facts only."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.fleet import FleetConfig, Strategy, StrategyResult, _World, simulate
from bench.workload import generate

TINY = FleetConfig(instances=10, hours=2, start_hour=15, seed=7, rerun_killed=True)


@pytest.fixture(scope="module")
def world() -> _World:
    w = _World(TINY, "none", generate(TINY.workload()))
    w.run()
    return w


def _without_timing(r: StrategyResult) -> dict[str, Any]:
    d = dataclasses.asdict(r)
    for k in ("wall_seconds", "cpu_seconds"):
        d.pop(k)
    return d


def test_every_kill_queues_the_same_job_again_at_the_kill(world: _World) -> None:
    r = world.result
    assert r.builds_killed > 0
    assert r.builds_rerun == len(world.reruns) == r.builds_killed  # one re-run per kill, first kills and re-runs'
    killed = [b for b in (*world.builds, *world.reruns) if b.killed]
    by_attempt = {(b.spec.id, b.attempt): b for b in world.reruns}
    for b in killed:
        again = by_attempt[(b.spec.id, b.attempt + 1)]
        assert b.end is not None and again.spec.arrival == b.end  # queued the moment it was killed
        # the whole job again: full duration, the same kind (so the same pipeline and plan type)
        assert dataclasses.replace(again.spec, arrival=b.spec.arrival) == b.spec
        assert again.meta == b.meta


def test_a_rerun_runs_its_full_duration_and_can_be_killed_again(world: _World) -> None:
    r = world.result
    done = [b for b in world.reruns if b.end is not None and not b.killed]
    assert done and r.reruns_completed == len(done)
    for b in done:
        assert b.start is not None and b.end is not None and b.end - b.start == pytest.approx(b.spec.duration)
    assert r.reruns_killed == sum(1 for b in world.reruns if b.killed) > 0
    assert any(b.attempt >= 2 for b in world.reruns)  # a killed re-run is re-run again
    # the day's builds are counted apart from their re-runs
    assert r.builds == len(world.builds) and r.builds_started == r.builds + sum(1 for b in world.reruns if b.start)
    assert sum(k["builds_killed"] for k in r.by_kind.values()) == r.builds_killed


def test_without_the_option_nothing_is_rerun(world: _World) -> None:
    r = simulate(dataclasses.replace(TINY, rerun_killed=False), "none")
    assert r.builds_killed > 0 and r.builds_rerun == r.reruns_killed == r.reruns_completed == 0
    assert r.builds == world.result.builds  # the same day
    assert r.busy_instance_hours < world.result.busy_instance_hours  # the re-runs' time is paid with the option


GATED: tuple[Strategy, ...] = ("gate+protect", "idle-first")


@pytest.mark.parametrize("strategy", GATED)
def test_a_gated_strategy_kills_nothing_so_reruns_nothing(strategy: Strategy) -> None:
    rerun = simulate(TINY, strategy)
    assert rerun.builds_killed == rerun.builds_rerun == 0
    assert _without_timing(rerun) == _without_timing(simulate(dataclasses.replace(TINY, rerun_killed=False), strategy))
