"""Shared CLI plumbing: one-line errors, endpoints, settings, machine-readable output.

Exit codes (every command): 0 done; 1 it ran and the verdict is bad (`simulate`: a build was killed, `replay`: the
handler recorded an error) or it failed midway (an unexpected error); 2 it could not run: bad option or argument,
unreadable or malformed input file, missing or invalid `GATE_*` settings, an endpoint that cannot be reached (no TCP
connection, e.g. `gate status --aws-endpoint http://127.0.0.1:1`: one line within seconds, not after botocore's
retries). Errors are one line on stderr, never a traceback (`GATE_DEBUG=1` shows the traceback of an unexpected
failure).
"""

from __future__ import annotations

import difflib
import io
import json
import os
import socket
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
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
    say(f"[bold red]error:[/] {one_line(message)}", to=err_console)


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
    if os.environ.get("AWS_PROFILE"):
        check_profile(os.environ["AWS_PROFILE"])
    check_region(os.environ["AWS_DEFAULT_REGION"])


def apply_aws_options(region: str | None, profile: str | None) -> None:
    """The global `--region` and `--profile`, as the standard variables (every command and the gate code read them).

    A profile named on the command line wins over credentials in the environment, as with the AWS CLI: the
    AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN variables would otherwise be used before it."""
    if region is not None:
        region = region.strip()
        check_region(region, "--region")
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = region
    if profile is not None:
        check_profile(profile, "--profile")
        os.environ["AWS_PROFILE"] = profile
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            os.environ.pop(key, None)


def check_profile(profile: str, what: str = "AWS_PROFILE") -> None:
    """A profile of this machine's AWS config files (~/.aws/config, ~/.aws/credentials), else one line naming it
    (botocore would fail every session with "The config profile (x) could not be found")."""
    import botocore.session

    known = sorted(botocore.session.Session().available_profiles)
    if profile not in known:
        listed = names_line(known, profile)
        fail(f"{what} {profile!r}: no such profile in this machine's AWS config files; profiles: {listed}")


def closest(wanted: str, names: Sequence[str]) -> str | None:
    """The name a typo most likely meant: difflib on lower case, then a name that contains it or that it contains
    (`linux` for `linux-agents`, which difflib's ratio alone misses)."""
    lowered = {n.lower(): n for n in names}
    match = difflib.get_close_matches(wanted.lower(), list(lowered), n=1, cutoff=0.6)
    if match:
        return lowered[match[0]]
    w = wanted.lower()
    near = [n for low, n in lowered.items() if w and (w in low or low in w)]
    return min(near, key=len) if near else None


LISTED = 12  # at most this many existing names in one line


def names_line(names: Sequence[str], wanted: str = "") -> str:
    """`a, b, c; did you mean b?`: what exists (at most LISTED), and the closest to what was asked for."""
    names = sorted(set(names))
    if not names:
        return "none"
    close = closest(wanted, names) if wanted else None
    shown = ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
    return shown + (f"; did you mean {close}?" if close else "")


def check_region(region: str, what: str = "AWS_DEFAULT_REGION") -> None:
    """A region botocore knows in some partition (aws, aws-cn, aws-us-gov...), else one line naming it: a typo'd
    region otherwise surfaces later as an unreachable endpoint, or as groups and hooks that do not exist."""
    from gate.adapters.aws import make_session

    session = make_session(None)
    known: set[str] = set()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("autoscaling", partition_name=partition))
    if known and region not in known:
        close = closest(region, sorted(known))
        hint = f"; did you mean {close}?" if close else " (e.g. us-east-1, eu-west-1)"
        fail(f"{what} {region!r} is not an AWS region{hint}")


@dataclass(frozen=True)
class AwsTarget:
    """Which AWS a command talks to: named in its output and in every error about AWS."""

    region: str | None
    endpoint: str | None
    account: str | None = None
    profile: str | None = None

    def where(self) -> str:
        parts = [f"account {self.account}"] if self.account else []
        parts.append(f"region {self.region}" if self.region else "no region (set AWS_DEFAULT_REGION or --region)")
        if self.endpoint:
            parts.append(f"endpoint {self.endpoint}")
        if self.profile:
            parts.append(f"profile {self.profile}")
        return ", ".join(parts)

    def as_json(self) -> dict[str, str | None]:
        return {"account": self.account, "region": self.region, "endpoint": self.endpoint, "profile": self.profile}


def aws_target(endpoint: str | None, session: Any = None) -> AwsTarget:
    """The region, endpoint and profile in use, and the account the credentials belong to (STS GetCallerIdentity,
    one quick try: None when it cannot say, and the checks that follow report why)."""
    from gate.adapters.aws import make_session

    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    session = session or make_session(region)
    account = None
    try:
        from botocore.config import Config

        config = Config(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1})
        account = str(session.client("sts", endpoint_url=endpoint, config=config).get_caller_identity()["Account"])
    except Exception:  # no credentials, refused, unreachable: said by the check that needs them
        account = None
    return AwsTarget(session.region_name or region, endpoint, account, os.environ.get("AWS_PROFILE"))


def print_target(target: AwsTarget) -> None:
    """The line that says which AWS the output is about (wrapped at word boundaries, like the other notes)."""
    console.print(f"[dim]AWS: {escape_text(target.where())}[/]", highlight=False)


def escape_text(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def say(text: str, *, to: Console | None = None) -> None:
    """One fact per line (rich markup allowed). On a terminal rich wraps it at word boundaries within the width (a
    terminal would cut it mid-word); piped or captured (CI logs, `grep`, the tests) it stays one line."""
    out = to or console
    out.print(text, highlight=False, soft_wrap=not out.is_terminal)


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
    problem = reachable(url, what, timeout)
    if problem is not None:
        fail(problem)


def reachable(url: str | None, what: str, timeout: float = 3.0) -> str | None:
    """Why an explicit endpoint does not accept a TCP connection, in words (None: it does, or none is set)."""
    if not url:
        return None
    parsed = urlparse(url)
    if not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        from gate.adapters.neterrors import network_words  # one wording for every network failure

        return f"cannot reach {what} {url}: {network_words(exc, url, timeout)}"
    return None


# Required settings without a default, and a stand-in for each: see settings_or_exit.
_STAND_INS: dict[str, Any] = {"groups": ["stand-in"], "hook_name": "stand-in"}


def _problems(exc: SettingsError) -> list[str]:
    lines = [
        line.strip().removeprefix("settings: Value error, ").replace(": Value error, ", ": ")
        for line in str(exc).splitlines()[1:]
    ]
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
