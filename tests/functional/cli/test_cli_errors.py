"""Error paths common to every command: usage errors, unexpected failures, help; no servers needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli.conftest import gate, one_line_error, run_process

COMMANDS = ["simulate", "check", "status", "doctor", "replay", "outcomes", "emulator", "bench"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str) -> None:
    result = gate(command, "--help")
    assert result.exit_code == 0, result
    assert f"Usage: gate {command}" in result.stdout


def test_no_arguments_shows_the_commands() -> None:
    result = gate()
    assert result.exit_code == 2
    assert all(c in result.output for c in COMMANDS)
    assert "Exit codes: 0 done; 1 ran, bad verdict" in gate("--help").stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["check"], "Missing argument"),
        (["check", "i-0123456789abcdef0", "--verbose"], "No such option: --verbose"),
        (["replay"], "Missing argument"),
        (["replay", "e.json", "--budget", "-1"], "'--budget'"),
        (["emulator", "--aws-port", "70000"], "'--aws-port'"),
        (["emulator", "--aws-port", "5123", "--azure-port", "5123"], "both 5123"),
        (["outcomes", "--since", "soon", "--log-group", "g"], "--since 'soon'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], needle: str) -> None:
    line = one_line_error(gate(*args), needle)
    assert "--help" in line or "--since" in line or "both" in line


def test_an_unexpected_failure_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    import cli.outcomes

    def boom(*_: object) -> None:
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(cli.outcomes, "from_file", boom)
    result = gate("outcomes", "some.log")
    assert result.exit_code == 1, result
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: unexpected RuntimeError: something nobody planned for (GATE_DEBUG=1 shows the traceback)"]


def test_a_real_process_gives_the_same_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("instances: 2\nbuilds: [{instance: 3, duration: 60}]\n")
    proc = run_process("simulate", "--scenario", bad)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"error: invalid scenario {bad}: instance index 3, but the group has 2 instances")
    speed = run_process("simulate", "--speed", "0")
    assert speed.returncode == 2 and len(speed.stderr.strip().splitlines()) == 1
    assert speed.stderr.startswith("error: Invalid value for '--speed'")
