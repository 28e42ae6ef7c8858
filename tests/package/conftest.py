from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Also registered by tests/infra and tests/bench; repeated here so `pytest tests/package` alone knows the marker.
    config.addinivalue_line("markers", "network: needs a package registry (PyPI through pip's configured index)")
