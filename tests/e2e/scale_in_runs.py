"""The e2e scale-in runs' shared set-up: one scenario on the AWS emulator and the fake Azure DevOps, the real
handler per event and tick, on an accelerated clock; verdicts from the servers' own records."""

from __future__ import annotations

import os
from typing import Any

from emulator.scenario import BuildSpec, Run, ScaleSpec, Scenario

SPEED = float(os.environ.get("GATE_E2E_SPEED", "20"))


def run(**kw: Any) -> Run:
    defaults: dict[str, Any] = {
        "instances": 3,
        "builds": [BuildSpec(instance=0, start=0, duration=300)],
        "scale": [ScaleSpec(at=20, desired=1)],
        "protect": [2],  # the survivor: makes the busy instance (0) and an idle one (1) the victims
        "max_seconds": 1200,
    }
    defaults.update(kw)
    r = Run(Scenario(**defaults).check(), speed=SPEED)
    r.run()
    return r


def history(r: Run, what: str) -> dict[str, list[dict[str, Any]]]:
    assert r.sandbox.emulator is not None
    out: dict[str, list[dict[str, Any]]] = {}
    for h in r.sandbox.emulator.history():
        if h["what"] == what:
            out.setdefault(h["instance_id"], []).append(h)
    return out


def outcomes(r: Run, instance: str) -> list[str]:
    return [rec["outcome"] for rec in r.log.records if rec.get("instance") == instance]
