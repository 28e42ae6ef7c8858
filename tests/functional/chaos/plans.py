"""The chaos tests' hand-made worlds: one small plan to vary, and a run of it on the module's worker."""

from __future__ import annotations

from typing import Any

from chaos.runner import Worker, seed_run
from chaos.world import GroupPlan, Plan, RunRecords


def two_instances(**overrides: Any) -> Plan:
    """Two busy-or-idle instances scaled in to nothing at 30 s: one runs a 900 s job, the other is idle."""
    values: dict[str, Any] = {
        "seed": 0,
        "classes": (),
        "groups": [GroupPlan("ci-0", 2, 180, "CONTINUE", False, 1)],
        "foreign": None,
        "pools": ["linux-agents"],
        "skew": 0.0,
        "page_size": 1000,
        "actions": [
            (5.0, "start_build", {"pick": 0.0, "duration": 900.0}),
            (30.0, "scale_in", {"group": 0.0, "how": "desired", "count": 2, "pick": 0.0}),
        ],
        "delays": [60.0] * 8,
        "boots": [30.0] * 8,
        "secrets": {"pat": "chaos-test-pat-0123456789abcdef", "hook_secret": "chaos-test-hook-0123456789abcdef"},
    }
    values.update(overrides)
    return Plan(**values)


def run_plan(worker: Worker, plan: Plan, *, gate: bool = True) -> RunRecords:
    return seed_run(worker._start(), plan, worker.image_id, gate=gate).run()
