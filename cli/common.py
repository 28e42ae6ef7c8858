"""Shared CLI plumbing: one-line errors with exit code 2, endpoints, settings."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer
from rich.console import Console

from gate.redact import redact
from gate.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {redact(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def apply_endpoints(aws_endpoint: str | None, localstack: bool) -> None:
    """Endpoints travel as the standard variables, so the gate code itself never sees a CLI flag."""
    if aws_endpoint:
        os.environ["AWS_ENDPOINT_URL"] = aws_endpoint
    if localstack:
        os.environ["GATE_LOCALSTACK"] = "1"
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        fail(str(exc).replace("\n ", ""))
