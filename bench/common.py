"""Plumbing shared by the benchmarks: settings at their defaults, quiet decision logs, a clean environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from gate.adapters import logs
from gate.domain.model import HELD_SINCE_TAG, IDLE_SINCE_TAG, Waiting
from gate.domain.timestamps import parse_ts
from gate.settings import Settings

BENCH_PAT = "bench-pat-0123456789abcdef"  # what the fake Azure DevOps accepts; not a secret


class DefaultsOnlySettings(Settings):
    """The gate's Settings from explicit values and defaults only: a GATE_* variable in the environment of
    whoever runs the benchmark must not change what is measured ("at default settings")."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def gate_settings(
    *, azure_org_url: str, pools: list[str], groups: list[str], hook_name: str, **overrides: Any
) -> Settings:
    """Default settings for one Azure DevOps org: only the wiring (where, which pool/group/hook) is given."""
    return DefaultsOnlySettings(
        azure_org_url=azure_org_url,
        pools=pools,
        groups=groups,
        hook_name=hook_name,
        pat=BENCH_PAT,
        **overrides,
    )


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The handler prints one JSON line per decision; a benchmark makes thousands. Restores the configuration."""
    saved = structlog.get_config()
    with open(os.devnull, "w") as devnull:
        logs.configure(stream=devnull)
        try:
            yield
        finally:
            structlog.configure(**saved)


@contextmanager
def clean_gate_env() -> Iterator[None]:
    """Hide GATE_* variables while a benchmark builds settings through code that reads the environment."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("GATE_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def instance_details(private_dns: str | None, tags: Mapping[str, str]) -> dict[str, Any]:
    """What `gate.adapters.aws.Aws.describe_instances` reports for one instance, for the in-process stand-ins: the
    fields of
    `gate.domain.model.Waiting` that EC2 fills (the private DNS name, the gate's tags and the clocks read from them)."""
    known = {f.name for f in dataclasses.fields(Waiting)}
    details: dict[str, Any] = {
        "private_dns": private_dns,
        "private_ip": None,
        "held_since": parse_ts(tags.get(HELD_SINCE_TAG)),
        "idle_since": parse_ts(tags.get(IDLE_SINCE_TAG)),
        "tags": {k: v for k, v in tags.items() if k.startswith("gate:")},
    }
    return {k: v for k, v in details.items() if k in known}
