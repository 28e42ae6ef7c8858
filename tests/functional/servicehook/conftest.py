"""The live world of the reliability tests (ManualClock, AWS emulator, fake Azure DevOps, real gate over HTTP)."""

from __future__ import annotations

from tests.support.world import FAST, World, world

__all__ = ["FAST", "World", "world"]
