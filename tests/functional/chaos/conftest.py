"""The chaos tests' worker: one emulator process per module, stopped after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.runner import Worker


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    try:
        yield w
    finally:
        w.stop()
