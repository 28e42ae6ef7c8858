"""The fleet bench runs every thread pool of the real gate on simulated time (bench.fleet._SimWorkers). The pools are
found by type, not by attribute name: issue 23's split moved the judgment pool from Gate to Passes, the lookup by name
missed it, and the judgment pass ran inline on the lockstep clock instead (Azure DevOps slow: the gate's release p95
62 -> 84.8 s with no change in the gate's behaviour). Structure only: no simulation is run."""

from __future__ import annotations

import pytest

from bench import fleet
from bench.fleet import FleetConfig, Strategy, _SimWorkers, _World, real_pools
from bench.workload import generate

TINY = FleetConfig(instances=4, hours=1, start_hour=15, seed=7)


def _world(strategy: Strategy) -> _World:
    return _World(TINY, strategy, generate(TINY.workload()))


@pytest.mark.parametrize("strategy", ["gate", "gate+protect"])
def test_no_pool_of_the_gate_is_left_on_real_threads(strategy: Strategy) -> None:
    gate = _world(strategy)._new_gate()
    assert real_pools(gate) == []
    assert isinstance(gate.heartbeats.workers, _SimWorkers)
    assert isinstance(gate.passes.judges, _SimWorkers)  # the pool the name lookup missed after the split


def test_the_pools_are_found_wherever_the_gate_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "_simulate_pools", lambda gate, sim: None)
    gate = _world("gate")._new_gate()
    found = {(type(owner).__name__, attr) for owner, attr, _ in real_pools(gate)}
    assert found == {("Heartbeats", "workers"), ("Passes", "judges")}


def test_a_gate_without_pools_stops_the_bench() -> None:
    class NoPools:
        pass

    with pytest.raises(RuntimeError, match="Workers"):
        fleet._simulate_pools(NoPools(), lambda size: None)  # type: ignore[arg-type]
