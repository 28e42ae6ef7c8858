"""The safety tests (issue #18) run in the reliability tests' live world: a ManualClock, the AWS emulator and the
fake Azure DevOps over HTTP, the real gate. Fixtures are re-exported from there, as tests/functional/judgment does."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.sandbox import PAT
from tests.functional.cli.conftest import gate
from tests.support.world import FAST, World, world

__all__ = ["FAST", "World", "doctor", "world"]


def doctor(world: World, monkeypatch: pytest.MonkeyPatch, **settings: str) -> Any:
    """`gate doctor` against this world, with the gate's settings in the environment (and `settings` on top)."""
    env = {
        "GATE_AZURE_ORG_URL": world.sb.azure_url,
        "GATE_PAT": PAT,
        "GATE_POOLS": world.group.pool,
        "GATE_GROUPS": world.group.name,
        "GATE_HOOK_NAME": world.group.hook,
        "AWS_ENDPOINT_URL": world.sb.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        **{f"GATE_{k.upper()}": v for k, v in settings.items()},
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return gate("doctor", width=400)
