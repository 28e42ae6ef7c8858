"""Shared CLI plumbing: one-line errors, endpoints, settings, machine-readable output.

Exit codes (every command): 0 done; 1 it ran and the verdict is bad (`simulate`: a build was killed, `replay`: the
handler recorded an error) or it failed midway (an unexpected error); 2 it could not run: bad option or argument,
unreadable or malformed input file, missing or invalid `GATE_*` settings, an endpoint that cannot be reached (no TCP
connection, e.g. `gate status --aws-endpoint http://127.0.0.1:1`: one line within seconds, not after botocore's
retries). Errors are one line on stderr, never a traceback (`GATE_DEBUG=1` shows the traceback of an unexpected
failure).
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO, cast
from urllib.parse import urlparse

import typer
from rich.console import Console
from typer.core import TyperGroup

from gate.domain.redact import redact
from gate.settings import Settings, SettingsError, load_settings

try:  # typer >= 0.16 vendors click; older releases use click itself
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc  # type: ignore[no-redef]

console = Console()
err_console = Console(stderr=True)


class Discard(io.TextIOBase):
    """A text stream that drops everything (the handler's JSON lines when the CLI shows records itself)."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


DISCARD = cast(TextIO, Discard())


def short_id(iid: str) -> str:
    """`i-0a1b2c3d4e5f67890` -> `i-…e5f67890` for narrow terminals: the last 8 hex digits, unique within a group."""
    return iid if len(iid) <= 12 else f"i-…{iid[-8:]}"


def one_line(text: str) -> str:
    return " ".join(redact(str(text)).split())


def error_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {one_line(message)}", highlight=False, soft_wrap=True, markup=True)


def fail(message: str, code: int = 2) -> NoReturn:
    # Escape rich markup in the message itself: file contents and server errors may contain brackets.
    from rich.markup import escape

    error_line(escape(message))
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    """Plain JSON on stdout (no rich wrapping or colour), so `| jq` and the tests can parse it."""
    typer.echo(json.dumps(redact_tree(data), indent=2, default=str))


def redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v) for v in value]
    return value


class OneLineErrors(TyperGroup):
    """Usage errors (bad option, bad value, unknown command) as one `error:` line with exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click_exc.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except _click_exc.ClickException as exc:
            from rich.markup import escape

            hint = ""
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, _click_exc.UsageError) and ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            error_line(escape(exc.format_message()) + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:
            error_line("aborted")
            sys.exit(1)
        except Exception as exc:  # a bug or an unforeseen failure: still one line
            if os.environ.get("GATE_DEBUG"):
                traceback.print_exc()
            from rich.markup import escape

            error_line(escape(f"unexpected {type(exc).__name__}: {exc}") + " (GATE_DEBUG=1 shows the traceback)")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def apply_endpoints(aws_endpoint: str | None, localstack: bool) -> None:
    """Endpoints travel as the standard variables, so the gate code itself never sees a CLI flag."""
    if aws_endpoint:
        check_url(aws_endpoint, "--aws-endpoint")
        os.environ["AWS_ENDPOINT_URL"] = aws_endpoint
    if localstack:
        os.environ["GATE_LOCALSTACK"] = "1"
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))


def check_url(url: str, what: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        fail(f"{what} {url!r}: use an absolute http(s) URL such as http://127.0.0.1:4566")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError:
        fail(f"{what} {url!r}: bad port")


def require_reachable(url: str | None, what: str, timeout: float = 3.0) -> None:
    """Fail fast (one line, exit 2) when an explicit endpoint does not even accept a TCP connection.

    Without this, botocore's retries would spend tens of seconds before saying the same thing.
    """
    if not url:
        return
    parsed = urlparse(url)
    if not parsed.hostname:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        fail(f"cannot reach {what} {url}: {exc.strerror or exc}")


# Required settings without a default, and a stand-in for each: see settings_or_exit.
_STAND_INS: dict[str, Any] = {"groups": ["stand-in"], "hook_name": "stand-in"}


def _problems(exc: SettingsError) -> list[str]:
    lines = [line.strip().removeprefix("settings: Value error, ") for line in str(exc).splitlines()[1:]]
    return [line for line in lines if line] or [str(exc)]


def settings_or_problems(**overrides: Any) -> tuple[Settings | None, list[str]]:
    """Settings, or every problem with them at once.

    Field errors (a missing GATE_GROUPS) stop validation before the cross-field checks (the PAT, the organisation
    URL, the pools), which a user would otherwise meet one run later: so the cross-field checks are run again with
    stand-ins for the missing required fields, and their problems join the list.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(**given), []
    except SettingsError as exc:
        problems = _problems(exc)
    missing = {k: v for k, v in _STAND_INS.items() if any(p.startswith(f"GATE_{k.upper()}:") for p in problems)}
    if missing:
        try:
            load_settings(**{**missing, **given})
        except SettingsError as more:
            problems += [p for p in _problems(more) if p not in problems]
    return None, problems


def settings_or_exit(**overrides: Any) -> Settings:
    """Settings, or exit 2 with one line naming every problem."""
    settings, problems = settings_or_problems(**overrides)
    if settings is None:
        fail("invalid gate settings: " + "; ".join(problems))
    return settings
