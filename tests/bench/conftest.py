from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Also registered by tests/infra; repeated here so `pytest tests/bench` alone knows the marker.
    config.addinivalue_line("markers", "network: needs a package registry (PyPI through pip's configured index)")
