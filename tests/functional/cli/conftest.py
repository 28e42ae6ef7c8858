"""CLI tests: every command through typer's CliRunner (in process) and some through a real `gate` process.

Every captured output goes through `check_output`, which fails the test if the sandbox PAT (or a traceback)
shows up: the PAT must never reach the terminal, whatever the command or error path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.common import console, err_console
from cli.main import app
from emulator.sandbox import PAT
from gate.adapters import logs

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "scenarios"


def check_output(text: str) -> None:
    assert PAT not in text, "the PAT reached the CLI output"
    assert "Traceback (most recent call last)" not in text, text


class Invoked:
    """A CliRunner result with the streams separated (stdout for --json, stderr for the error line)."""

    def __init__(self, exit_code: int, stdout: str, stderr: str, exception: BaseException | None) -> None:
        self.exit_code, self.stdout, self.stderr, self.exception = exit_code, stdout, stderr, exception
        self.output = stdout + stderr

    def __repr__(self) -> str:
        return f"<exit {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


def gate(*args: Any, env: dict[str, str] | None = None, width: int = 80) -> Invoked:
    """Run `gate ARGS` in process. The terminal is `width` columns (80 unless told: CI logs, small terminals)."""
    console.width = err_console.width = width  # rich reads COLUMNS once, at import: set the width per call
    saved = dict(os.environ)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], env=env, prog_name="gate")
    finally:  # --region/--profile set the process's AWS_* variables, as a real `gate` process would for itself
        os.environ.clear()
        os.environ.update(saved)
    out = Invoked(result.exit_code, result.stdout, result.stderr, result.exception)
    check_output(out.output)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"gate {' '.join(map(str, args))} raised {result.exception!r}") from result.exception
    return out


def one_line_error(result: Invoked, *needles: str) -> str:
    """The error path: exit 2, nothing on stdout, exactly one `error:` line on stderr naming the problem."""
    assert result.exit_code == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    for needle in needles:
        assert needle in lines[0], result
    return lines[0]


def gate_command() -> list[str]:
    """The installed console script if there is one, else the module (same code either way)."""
    script = shutil.which("gate", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "cli.main"]


def run_process(*args: Any, timeout: float = 90, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*gate_command(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    check_output(proc.stdout + proc.stderr)
    return proc


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """The CLI sets AWS_ENDPOINT_URL and reconfigures logging for its process: undo both after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    logs.configure()
