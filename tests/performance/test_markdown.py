"""docs/performance.md's tables come from the results JSON: rendering and splicing between markers."""

from __future__ import annotations

import json
from pathlib import Path

from bench.markdown import render, splice, table


def test_splice_replaces_only_between_its_markers() -> None:
    text = "intro\n<!-- bench:a -->\nold\n<!-- /bench:a -->\nmiddle\n<!-- bench:b -->\nkeep\n<!-- /bench:b -->\n"
    out = splice(text, {"a": "| x |\n|---|\n| 1 |"})
    assert "old" not in out and "| 1 |" in out and "keep" in out and out.startswith("intro\n")
    empty = "<!-- bench:a -->\n<!-- /bench:a -->\n"
    assert splice(empty, {"a": "T"}) == "<!-- bench:a -->\nT\n<!-- /bench:a -->\n"
    assert splice(splice(empty, {"a": "T"}), {"a": "U"}) == "<!-- bench:a -->\nU\n<!-- /bench:a -->\n"


def test_tables_render_from_the_results_files(tmp_path: Path) -> None:
    hook = {
        "instances": 20,
        "hours": 2,
        "delivery_delay_s": 2.0,
        "hook_concurrency": 2,
        "rows": [
            {
                "strategy": "gate",
                "release": "polling alone",
                "holds": 3,
                "after_build_p50_s": 9.5,
                "after_build_p95_s": 12.0,
                "after_lag_p50_s": 4.0,
                "after_lag_p95_s": 8.0,
                "idle_victim_p95_s": None,
                "builds_killed": 0,
                "service_hook_calls": 0,
                "service_hook_throttled": 0,
                "azure_calls": 10,
                "aws_calls": 20,
                "autoscaling_calls": 15,
                "target_p95_s": 15.0,
            }
        ],
    }
    (tmp_path / "hook.json").write_text(json.dumps(hook))
    tables = render(tmp_path)
    assert list(tables) == ["targets", "hook"]  # the other results files are absent: their tables are left alone
    assert "| gate | polling alone | 3 | 9.5 s | **12.0 s** | 4.0 s | **8.0 s** | ≤ 15 s | - |" in tables["hook"]
    assert "12.0 s (build ended after the lag bound: 8.0 s) | met |" in tables["targets"]
    assert table(["a", "b"], [["1", "2"]]).splitlines()[1] == "|---|---:|"
