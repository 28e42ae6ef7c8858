"""CLI tests: every command through typer's CliRunner (in process) and some through a real `gate` process.

Every captured output goes through `check_output`, which fails the test if the sandbox PAT (or a traceback)
shows up: the PAT must never reach the terminal, whatever the command or error path.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.common import console, err_console
from cli.main import app
from emulator.sandbox import PAT, Group, Sandbox
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


def use_sandbox(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, group: Group) -> None:
    """Point the gate at a sandbox group: its settings, and AWS variables naming the emulator (a developer's own
    AWS_PROFILE or AWS_REGION cleared, so that nothing points elsewhere)."""
    for key, value in {
        "GATE_AZURE_ORG_URL": sandbox.azure_url,
        "GATE_PAT": PAT,
        "GATE_POOLS": group.pool,
        "GATE_GROUPS": group.name,
        "GATE_HOOK_NAME": group.hook,
        "AWS_ENDPOINT_URL": sandbox.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)


def read_banner(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """What a `gate emulator` process printed up to its `scripting:` line (or its end, or `timeout` seconds)."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    text, deadline = "", time.monotonic() + timeout
    while "scripting:" not in text and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if sel.select(timeout=0.2):
            text += proc.stdout.readline()
    return text


@contextmanager
def emulator_process(*args: str, ready: bool = True) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`gate emulator ARGS` as a real process and its banner: up to `scripting:`, and on to `ready` when asked (a
    seeded world is built after the URLs are printed). Killed at the end."""
    proc = subprocess.Popen(
        [*gate_command(), "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = read_banner(proc)
        while ready and "ready" not in banner and proc.poll() is None:
            assert proc.stdout is not None
            banner += proc.stdout.readline()
        yield proc, banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """The CLI sets AWS_ENDPOINT_URL and reconfigures logging for its process: undo both after each test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    logs.configure()
