"""The fleet simulation under faults: every strategy against every fault scenario, on the same day of builds.

Also the fail-safe posture of the hook itself (issue 11): the gate down for 30 minutes during the afternoon
scale-in, with DefaultResult CONTINUE, ABANDON without retention, and ABANDON with TerminateHookAbandon = retain
(the instance is kept, Terminating:Retained, and the gate's tick cleans it up once its agents are idle).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench.faults import SCENARIOS, Faults, by_name
from bench.fleet import STRATEGIES, FleetConfig, Strategy, StrategyResult, simulate
from bench.workload import BuildSpec, generate

# What the fault tables show per strategy and scenario (the JSON keeps every field of the summary).
CELL_FIELDS = (
    "builds_killed",
    "hooks_timed_out",
    "instance_hours",
    "azure_calls",
    "aws_calls",
    "autoscaling_calls",
    "release_latency_p95_s",
    "queue_wait_p95_s",
    "agents_left_registered",
    "retained_at_end",
    "events_lost",
)


def _cell(r: StrategyResult) -> dict[str, Any]:
    errors = sum(n for k, n in r.decisions.items() if k == "error" or k.startswith("log:"))
    return {**{k: getattr(r, k) for k in CELL_FIELDS}, "error_decisions": errors}


def fault_matrix(
    cfg: FleetConfig,
    scenarios: Sequence[Faults] = SCENARIOS,
    strategies: Sequence[Strategy] = STRATEGIES,
    builds: Sequence[BuildSpec] | None = None,
) -> dict[str, Any]:
    """{"scenarios": [{name, description}], "cells": {scenario: {strategy: cell}}}; one simulation per cell."""
    start = time.perf_counter()
    day = list(builds) if builds is not None else generate(cfg.workload())
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for faults in scenarios:
        run = replace(cfg, faults=faults)
        cells[faults.name] = {s: _cell(simulate(run, s, day)) for s in strategies}
    return {
        "scenarios": [{"name": f.name, "description": f.describe()} for f in scenarios],
        "strategies": list(strategies),
        "cells": cells,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


@dataclass(frozen=True, slots=True)
class Posture:
    name: str
    default_result: str
    retain: bool
    heartbeat_timeout: int = 300


POSTURES: tuple[Posture, ...] = (
    Posture("DefaultResult CONTINUE", "CONTINUE", retain=False),
    Posture("DefaultResult ABANDON, no retention", "ABANDON", retain=False),
    Posture("DefaultResult ABANDON + TerminateHookAbandon=retain", "ABANDON", retain=True),
    Posture("DefaultResult CONTINUE, HeartbeatTimeout 3600 s", "CONTINUE", retain=False, heartbeat_timeout=3600),
)


def posture_under_outage(
    cfg: FleetConfig, outage: Faults | None = None, builds: Sequence[BuildSpec] | None = None
) -> dict[str, Any]:
    """The gate strategy with the gate down for 30 minutes, under each hook posture."""
    faults = outage or by_name("gate down 30 min")
    day = list(builds) if builds is not None else generate(cfg.workload())
    rows = []
    for p in POSTURES:
        run = replace(
            cfg,
            faults=faults,
            default_result="CONTINUE" if p.default_result == "CONTINUE" else "ABANDON",
            retain_on_abandon=p.retain,
            heartbeat_timeout=p.heartbeat_timeout,
        )
        r = simulate(run, "gate", day)
        rows.append({"posture": p.name, **_cell(r), "retained": r.retained, "held_hours": r.held_instance_hours})
    return {"faults": faults.describe(), "strategy": "gate", "rows": rows}
