"""A fake GitLab on 127.0.0.1 and its clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.gitlab import FakeGitLab
from gate.domain.clock import ManualClock

TOKEN = "glpat-fakegitlabtoken-0123456789ab"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gitlab(clock: ManualClock) -> Iterator[FakeGitLab]:
    with FakeGitLab(clock=clock, token=TOKEN) as fake:
        yield fake
