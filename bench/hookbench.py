"""Release latency by polling alone and with the Azure DevOps service hook, on the fleet simulation's day.

The same day of builds, the gate strategy, the real gate: once polling only (a tick a minute, re-checks within it),
once with every build end delivered to the real receiver (gate/servicehook.py) after `service_hook_delay_seconds`,
each accepted call running one round. Targets (issue 15): build end -> complete p95 <= 5 s with the hook, <= 15 s by
polling alone. Reported for every hold whose build ended during the hold, and apart for those whose build ended
after the gate's assignment lag bound (60 s from the hold's start): before the bound the gate may not release (a job
assigned just before the disable may not be visible yet), so a build ending early in the hold waits for the bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bench.fleet import FleetConfig, Strategy, simulate
from bench.workload import generate

TARGET_HOOK_P95_S = 5.0
TARGET_POLLING_P95_S = 15.0


def release_with_and_without_hook(
    cfg: FleetConfig, strategies: Sequence[Strategy] = ("gate", "gate+protect")
) -> dict[str, Any]:
    builds = generate(cfg.workload())
    rows = []
    for strategy in strategies:
        for hook in (False, True):
            r = simulate(replace(cfg, service_hook=hook), strategy, builds)
            rows.append(
                {
                    "strategy": strategy,
                    "release": "service hook + polling" if hook else "polling alone",
                    "holds": r.holds,
                    "after_build_p50_s": r.release_after_build_p50_s,
                    "after_build_p95_s": r.release_after_build_p95_s,
                    "after_lag_p50_s": r.release_after_lag_p50_s,
                    "after_lag_p95_s": r.release_after_lag_p95_s,
                    "idle_victim_p95_s": r.release_idle_p95_s,
                    "builds_killed": r.builds_killed,
                    "service_hook_calls": r.service_hook_calls,
                    "service_hook_throttled": r.service_hook_throttled,
                    "azure_calls": r.azure_calls,
                    "aws_calls": r.aws_calls,
                    "autoscaling_calls": r.autoscaling_calls,
                    "target_p95_s": TARGET_HOOK_P95_S if hook else TARGET_POLLING_P95_S,
                }
            )
    return {
        "instances": cfg.instances,
        "hours": cfg.hours,
        "delivery_delay_s": cfg.service_hook_delay_seconds,
        "hook_concurrency": cfg.service_hook_concurrency,
        "rows": rows,
    }
