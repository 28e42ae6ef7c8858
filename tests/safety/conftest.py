"""The safety tests (issue #18) run in the reliability tests' live world: a ManualClock, the AWS emulator and the
fake Azure DevOps over HTTP, the real gate. Fixtures are re-exported from there, as tests/judgment does."""

from __future__ import annotations

from tests.reliability.conftest import FAST, World, world

__all__ = ["FAST", "World", "world"]
