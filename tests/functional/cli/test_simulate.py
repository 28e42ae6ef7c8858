"""`gate simulate` end to end in process: embedded AWS emulator + fake Azure DevOps, the real handler, a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.sandbox import PAT
from tests.functional.cli.conftest import gate, one_line_error

FAST = ["--instances", "2", "--busy", "1", "--build-minutes", "2", "--scale-at", "10", "--speed", "40"]


def test_simulate_json_holds_the_busy_instance_and_kills_no_build(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    result = gate("simulate", *FAST, "--json", "--log-file", log)
    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert data["builds"] == 1 and data["builds_killed"] == 0 and data["hooks_timed_out"] == 0
    assert data["gate"] is True and data["released"] == 1 and data["heartbeats"] >= 1
    assert data["p50"] is not None and data["p50"] <= 120  # simulated seconds; generous for a loaded CI host
    states = sorted(i["state"] for i in data["instances"])
    assert states == ["InService", "Terminated"]
    released = next(i for i in data["instances"] if i["state"] == "Terminated")
    assert released["outcome"] == "released" and released["agent_state"] == "deleted"
    # held through most of the 2-minute build (the hold's clock starts once the action is proven ours, a few
    # seconds after the scale-in at 10 s; the release waits for the build's end, then the lag bound)
    assert released["held_seconds"] >= 60

    # The handler's JSON decision lines went to the log file: `gate outcomes` reads them back.
    assert PAT not in log.read_text()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(rec.get("Outcome") == "held" for rec in lines)
    # The release is the busy instance's last decisive record. An invocation that overlapped it (a tick that listed
    # the instance as waiting just before the release) may still write `gone` after it, and only `gone`.
    mine = [rec for rec in lines if rec.get("event") == "decision" and rec.get("instance") == released["instance"]]
    at = max(i for i, rec in enumerate(mine) if rec["Outcome"] == "released")
    assert all(rec["Outcome"] == "gone" for rec in mine[at + 1 :]), mine[at + 1 :]
    summary = gate("outcomes", log, "--json")
    assert summary.exit_code == 0, summary
    s = json.loads(summary.stdout)
    assert s["outcomes"]["released"] == 1 and s["outcomes"]["held"] >= 1
    assert s["hold_seconds"]["p50"] >= 60 and s["forced_and_errors"] == []  # as held_seconds above


def test_simulate_without_the_gate_kills_the_build_and_exits_1() -> None:
    result = gate("simulate", *FAST, "--no-gate")
    assert result.exit_code == 1, result
    assert "builds killed 1 of 1" in result.stdout
    assert "WITHOUT the gate" in result.stdout and "KILLED" in result.stdout


def test_simulate_scenario_file_prints_final_table_and_summary_in_80_columns(tmp_path: Path) -> None:
    scenario = tmp_path / "two-builds.yaml"
    scenario.write_text(
        "group: cli-test\n"
        "instances: 3\n"
        "builds:\n"
        "  - {instance: 0, start: 0, duration: 90}\n"
        "  - {instance: 1, start: 0, duration: 150}\n"
        "scale:\n"
        "  - {at: 10, desired: 1}\n"
        "protect: [2]\n"
        "settings: {idle_confirm_seconds: 10}\n"
    )
    result = gate("simulate", "--scenario", scenario, "--speed", "50")
    assert result.exit_code == 0, result
    out = result.stdout
    assert "builds killed 0 of 2 (must be 0): OK" in out
    assert "simulating cli-test: 3 instances, 2 build(s)" in out
    # non-TTY (CI): the final table is printed once, then the summary
    assert out.count("gate simulate: with the gate") == 1
    assert out.count("Terminated") == 2 and out.count("InService") == 1 and out.count("released") >= 2
    assert "release latency p50" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("instances: [\n", "ParserError at line 2"),
        ("instances: 2\ncolour: blue\n", "colour: Extra inputs are not permitted"),
        ("instances: 2\nbuilds: [{instance: 5, duration: 60}]\n", "instance index 5, but the group has 2"),
        ("instances: 2\nprotect: [2]\n", "instance index 2"),
        ("instances: 0\n", "instances: Input should be greater than or equal to 1"),
        ("builds: [{instance: 0}]\n", "builds.0.duration: Field required"),
        ("faults: [{at: 0, kind: meteor, seconds: 5}]\n", "faults.0.kind"),
        ("- 1\n- 2\n", "top level: Input should be a valid dictionary"),
        ("", "top level"),
        ("settings: {max_hol_seconds: 600}\n", "settings: unknown gate setting max_hol_seconds"),
        (
            "settings: {max_hold_seconds: 5}\n",
            "settings: max_hold_seconds: Input should be greater than or equal to 60",
        ),
        ("settings: {forced_result: KEEP}\n", "settings: forced_result: Input should be 'CONTINUE' or 'ABANDON'"),
        ("settings: {hook_name: other}\n", "settings: hook_name is set by the simulation itself"),
    ],
    ids=[
        "yaml",
        "unknown-key",
        "build-index",
        "protect-index",
        "instances",
        "missing-duration",
        "fault",
        "list",
        "empty",
        "settings-typo",
        "settings-value",
        "settings-enum",
        "settings-wired",
    ],
)
def test_bad_scenario_file_is_one_line_exit_2(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(content)
    one_line_error(gate("simulate", "--scenario", path), "invalid scenario", needle)


def test_unreadable_scenario_files(tmp_path: Path) -> None:
    one_line_error(gate("simulate", "--scenario", tmp_path / "missing.yaml"), "No such file or directory")
    one_line_error(gate("simulate", "--scenario", tmp_path), "Is a directory")
    bad_json = tmp_path / "scenario.json"
    bad_json.write_text('{"instances": 2,')
    one_line_error(gate("simulate", "--scenario", bad_json), "invalid scenario", "scenario.json")
    binary = tmp_path / "scenario.yml"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    one_line_error(gate("simulate", "--scenario", binary), "not UTF-8")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--busy", "5", "--instances", "2"], "--busy 5 is more than --instances 2"),
        (["--speed", "0"], "'--speed'"),
        (["--speed", "fast"], "'--speed'"),
        (["--scale-to", "3", "--instances", "3"], "not a scale-in"),
        (["--instances", "0"], "'--instances'"),
        (["--build-minutes", "-1"], "'--build-minutes'"),
        (["--frobnicate"], "No such option"),
        (["--aws-endpoint", "localhost:4566"], "absolute http(s) URL"),
        (["--aws-endpoint", "http://127.0.0.1:1"], "cannot reach the AWS endpoint"),
        (["--azure-url", "http://127.0.0.1:1/org"], "cannot reach the fake Azure DevOps"),
    ],
)
def test_bad_options_are_one_line_exit_2(args: list[str], needle: str) -> None:
    one_line_error(gate("simulate", *args), needle)


def test_unwritable_log_file(tmp_path: Path) -> None:
    one_line_error(gate("simulate", "--log-file", tmp_path / "no" / "such" / "dir.jsonl"), "cannot write")


def test_every_scenario_key_is_documented_in_the_readme() -> None:
    from emulator.scenario import Scenario
    from tests.functional.cli.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme.split("A scenario file (YAML or JSON)", 1)[1].split("\n## ", 1)[0]
    for key in Scenario.model_fields:
        assert f"| `{key}` |" in table, key


def test_ctrl_c_prints_the_table_and_a_partial_summary(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from tests.functional.cli.conftest import EXAMPLES, ROOT, check_output, gate_command

    log = tmp_path / "decisions.jsonl"
    proc = subprocess.Popen(
        [*gate_command(), "simulate", "--scenario", EXAMPLES / "long-build.yaml", "--speed", "20", "--log-file", log],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a worker may have left it ignored
    )
    # Interrupt once the run is in its loop: the gate has recorded a decision (the scale-in happened). A fixed sleep
    # was too short on a loaded CI host, and the interrupt then landed while the servers were starting.
    give_up = time.monotonic() + 120
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < give_up and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None and log.read_text().strip(), "the simulation never reached its loop"
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)  # a bound for a broken run, not the expected path
    check_output(out + err)
    assert proc.returncode == 130, (out, err)
    assert "gate simulate: with the gate" in out and "interrupted at t=" in out and "partial result" in out
    assert "builds killed 0 of" in out and err.strip() == ""


def test_ctrl_c_while_the_world_is_being_built_is_honoured() -> None:
    """A Ctrl-C at any moment ends the run: here during start-up (servers, group, agents), the moment it was once
    lost. The interrupt only sets a flag (a KeyboardInterrupt raised inside a `__del__` or a garbage-collector
    callback is swallowed), so the run stops at its next step and still prints its (empty) account."""
    import os
    import signal
    import subprocess

    from tests.functional.cli.conftest import EXAMPLES, ROOT, check_output, gate_command

    proc = subprocess.Popen(
        [*gate_command(), "simulate", "--scenario", EXAMPLES / "long-build.yaml", "--speed", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a worker may have left it ignored
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once Ctrl-C is ours, before the servers start
    assert first.startswith("simulating"), first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)  # a bound for a broken run, not the expected path
    check_output(first + out + err)
    assert proc.returncode == 130, (first, out, err)
    assert "interrupted at t=" in out and "partial result" in out and err.strip() == ""
