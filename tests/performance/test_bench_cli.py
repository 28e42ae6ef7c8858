"""`gate bench --quick` end to end: every part runs and writes its files (numbers are not asserted: no timing
assertions in tests; the benchmark itself is where numbers come from)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network  # network: the package build runs pip


@pytest.mark.timeout(120)
def test_the_bench_command_writes_a_part_and_its_picture(tmp_path: Path) -> None:
    """The command's plumbing, within `make test`: one part (the fleet day's seven strategies) to JSON and PNG. Every
    part at once is the slow test below (`make soak`): two minutes of a 10-minute suite."""
    from cli.bench import run_bench

    run_bench(tmp_path, quick=True, parts=("fleet",))
    fleet = json.loads((tmp_path / "fleet.json").read_text())
    assert fleet["quick"] is True and fleet["strategies"]["gate"]["builds_killed"] == 0
    assert fleet["strategies"]["none"]["builds_killed"] > 0
    rerun = fleet["baselines"]["none (re-run killed)"]  # the added baseline: every kill re-run (issue 22)
    assert rerun["builds_rerun"] == rerun["builds_killed"] > 0
    assert (tmp_path / "fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.json", "fleet.png"]  # that part only


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_bench_writes_its_results(tmp_path: Path) -> None:
    from cli.bench import run_bench

    run_bench(tmp_path, quick=True)

    fleet = json.loads((tmp_path / "fleet.json").read_text())
    assert set(fleet["strategies"]) == {
        "none",
        "protection",
        "pool-manager",
        "drain-on-signal",
        "gate",
        "gate+protect",
        "idle-first",
    }
    assert fleet["strategies"]["gate"]["builds_killed"] == fleet["strategies"]["gate+protect"]["builds_killed"] == 0
    assert fleet["strategies"]["idle-first"]["builds_killed"] == 0
    assert fleet["strategies"]["none"]["builds_killed"] > 0
    assert set(fleet["series"]["gate"]) >= {"t_h", "alive", "held", "busy", "desired", "kill_times_h"}
    assert (tmp_path / "fleet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    faults = json.loads((tmp_path / "faults.json").read_text())
    scenarios = [s["name"] for s in faults["matrix"]["scenarios"]]
    assert scenarios[0] == "fair weather" and len(scenarios) == 7
    assert faults["matrix"]["cells"]["lost events"]["gate"]["events_lost"] > 0
    assert len(faults["posture"]["rows"]) == 4
    assert (tmp_path / "faults.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    scale = json.loads((tmp_path / "scale.json").read_text())
    assert scale["tick"]["rounds"][0]["round"] == "first sight"
    assert scale["tick"]["builds_killed"] == 0 and "every_heartbeat_in_time" in scale["tick"]
    assert [r["heartbeat_timeout_s"] for r in scale["per_held_hour"]["rows"]] == [300, 3600]

    live = json.loads((tmp_path / "liveness.json").read_text())
    assert live["instances"] > 0 and live["invocations"] > 0 and "hooks_timed_out" in live

    hook = json.loads((tmp_path / "hook.json").read_text())
    assert {r["release"] for r in hook["rows"]} == {"polling alone", "service hook + polling"}
    assert all(r["builds_killed"] == 0 for r in hook["rows"])
    assert any(r["service_hook_calls"] > 0 for r in hook["rows"])

    real = json.loads((tmp_path / "real-path.json").read_text())
    release = real["release_latency"]
    assert release["holds"] >= 10 and release["builds_killed"] == 0 and release["p95_s"] is not None
    ticks = {t["tick"]: t for t in real["tick"]["sequence"]["ticks"]}
    assert ticks["steady hold"]["azure_calls"] == 1  # one paginated list for the one pool
    assert real["tick"]["http"]["azure_calls"] == 1
    assert real["tick"]["sequence"]["builds_killed"] == 0
    assert real["package"]["bytes"] > 0 and not real["package"]["ships_emulator"]
    assert real["cold_import"]["lambda_like_ms"] > 0
    # the shipped zip carries bytecode for this Python and the import uses it: nothing compiled from source
    assert real["package"]["pyc_files"] > 0 and real["package"]["runtime"] == "python{}.{}".format(*sys.version_info)
    assert real["cold_import"]["shipped_zip_from"] == "the unpacked zip"
    assert real["cold_import"]["compiled_from_source"]["shipped_zip"] == 0
    assert real["cold_import"]["compiled_from_source"]["lambda_like"] > 0
    assert (tmp_path / "gate-lambda.zip").is_file()


def test_unknown_part_is_refused(tmp_path: Path) -> None:
    import typer

    from cli.bench import run_bench

    with pytest.raises(typer.Exit) as exc:
        run_bench(tmp_path, quick=True, parts=("fleet", "nonsense"))
    assert exc.value.exit_code == 2
    assert not list(tmp_path.iterdir())
