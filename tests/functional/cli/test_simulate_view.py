"""The simulator's view and bookkeeping without servers: the table at terminal widths from 80 to 200 columns, and
the latest outcome per lifecycle action when concurrent invocations log out of order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from cli.simulate import COLUMNS, render
from emulator.scenario import Run, Scenario

REASONS = [
    "busy: linux-agents/agent-i-0d272e6e5e030ff84a#1 runs request 17 (build 42 of pipeline ci); heartbeat sent",
    "idle confirmed; job requests finished; completed CONTINUE; deleted linux-agents/agent-i-0a9a5d904509be3a62#2",
    "",
]


def _rows() -> list[dict[str, Any]]:
    return [
        {
            "instance": "i-0d272e6e5e030ff84",
            "state": "Terminating:Wait",
            "protected": False,
            "agent": "agent-i-0d272e6e5e030ff84",
            "agent_state": "busy, disabled",
            "held_seconds": 1234.5,
            "heartbeats": 12,
            "outcome": "held",
            "reason": REASONS[0],
        },
        {
            "instance": "i-0a9a5d904509be3a6",
            "state": "Terminated",
            "protected": False,
            "agent": "agent-i-0a9a5d904509be3a6",
            "agent_state": "deleted",
            "held_seconds": 75.0,
            "heartbeats": 2,
            "outcome": "released",
            "reason": REASONS[1],
        },
        {
            "instance": "i-0ee4a30ead2c5aa2c",
            "state": "InService",
            "protected": True,
            "agent": "agent-i-0ee4a30ead2c5aa2c",
            "agent_state": "idle",
            "held_seconds": None,
            "heartbeats": 0,
            "outcome": "-",
            "reason": "",
        },
    ]


def _text(width: int, final: bool = False) -> list[str]:
    rows = _rows()
    run = SimpleNamespace(
        rows=lambda: rows, elapsed=lambda: 321.0, with_gate=True, agents={r["instance"]: n for n, r in enumerate(rows)}
    )
    console = Console(width=width, record=True, force_terminal=False)
    console.print(render(run, width=width, final=final))  # type: ignore[arg-type]
    return [line.rstrip() for line in console.export_text().splitlines()]


@pytest.mark.parametrize("width", [80, 100, 120, 140, 160, 200])
def test_the_table_reads_well_at_every_width(width: int) -> None:
    lines = _text(width)
    assert max(len(line) for line in lines) <= width
    header = next(line for line in lines if line.strip().startswith("instance"))
    assert "…" not in header and all(col in header for col in COLUMNS)  # no column shrinks away
    body = [line for line in lines if line.strip().startswith("i-")]
    busy = next(line for line in body if "Terminating:Wait" in line)
    for cell in ("Terminating:Wait", " no ", "busy,off", "1234", " 12 ", "held"):
        assert cell in busy, (width, busy)
    released = next(line for line in body if "Terminated" in line)
    assert "released" in released and "deleted" in released
    full_ids = "i-0d272e6e5e030ff84" in busy
    assert full_ids == (width >= 120)  # narrow: the last 8 hex digits
    reason_inline = "busy: linux-agents" in busy
    assert reason_inline == (width >= 120)
    if not reason_inline:  # the reasons are on their own lines under the table, one per instance with a reason
        assert sum(1 for line in lines if "busy: linux-agents" in line) == 1
    assert any("idle confirmed" in line for line in lines)


def test_the_final_table_folds_the_reason_instead_of_cutting_it() -> None:
    text = " ".join(" ".join(_text(120, final=True)).split())
    assert "heartbeat sent" in text and "…" not in text


def test_a_stale_held_after_the_release_does_not_count() -> None:
    """An invocation that looked before the release logs `held` after it: the release stays the outcome."""
    run = Run(Scenario(instances=2))
    iid = "i-0123456789abcdef0"
    for outcome in ("held", "held", "released", "held", "gone", "error"):
        run._on_record({"instance": iid, "outcome": outcome, "reason": outcome})
    assert run.last[iid]["outcome"] == "released"
    run._on_record({"instance": "i-0fedcba9876543210", "outcome": "held", "reason": "busy"})
    run._on_record({"instance": "i-0fedcba9876543210", "outcome": "forced", "reason": "max hold"})
    run._on_record({"instance": "i-0fedcba9876543210", "outcome": "held", "reason": "late"})
    assert {r["outcome"] for r in run.last.values()} == {"released", "forced"}


def test_the_timeline_shows_changes_and_forced_results_and_prints_within_the_width() -> None:
    """A run of `held` is one line (with its first reason), a forced completion names its result, the script's
    steps and the lifecycle come in time order, and each line fits 80 columns (the reason is cut at a word)."""
    from cli.simulate import timeline
    from emulator.scenario import Moment, Result

    run = Run(Scenario(instances=2))
    run.instances = ["i-0123456789abcdef0"]
    iid = run.instances[0]
    records: list[tuple[float, dict[str, Any]]] = [
        (5.0, {"instance": iid, "outcome": "held", "reason": "draining: disabled agent " + "x" * 90}),
        (65.0, {"instance": iid, "outcome": "held", "reason": "busy"}),
        (605.0, {"instance": iid, "outcome": "forced", "reason": "max hold", "actions": ["complete ABANDON"]}),
        (606.0, {"outcome": "error", "reason": "heartbeat pass cut short"}),
    ]
    run.script = [Moment(t=0, instance=iid, what="build starts"), Moment(t=2, what="scale")]
    history = [{"time": 1002.0, "instance_id": iid, "what": "retained", "result": "ABANDON", "by": "instance"}]
    moments = run._timeline(1000.0, history, [], records)
    steps = [(m.t, m.what) for m in moments]
    assert steps == [
        (0, "build starts"),
        (2, "scale"),
        (2, "retained"),
        (5, "held"),
        (605, "forced ABANDON"),
        (606, "error"),
    ]
    text = timeline(Result(timeline=moments), run, width=80).plain
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "forced ABANDON  max hold" in text and "draining: disabled agent…" in text


def test_a_release_comes_before_the_termination_it_caused() -> None:
    """The gate logs `released` once its CompleteLifecycleAction has returned, after the emulator terminated the
    instance: the timeline shows the release at the completion's time, before `terminated` (it read one second
    after it in `make demo`)."""
    run = Run(Scenario(instances=1))
    run.instances = ["i-0123456789abcdef0"]
    iid = run.instances[0]
    records: list[tuple[float, dict[str, Any]]] = [
        (45.0, {"instance": iid, "outcome": "held", "reason": "draining"}),
        (106.0, {"instance": iid, "outcome": "released", "reason": "idle and drained past the lag bound"}),
    ]
    history = [
        {"time": 1105.0, "instance_id": iid, "what": "complete", "result": "CONTINUE", "by": "instance"},
        {"time": 1105.0, "instance_id": iid, "what": "terminated", "result": "CONTINUE", "by": "instance"},
    ]
    steps = [(m.t, m.what) for m in run._timeline(1000.0, history, [], records)]
    assert steps == [(45, "held"), (105, "released"), (105, "terminated")]
