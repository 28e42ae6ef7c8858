from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Microsoft's SDK caches discovery data under $HOME; keep test runs hermetic.
os.environ.setdefault("AZURE_DEVOPS_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest-sdk-cache"))
# boto3 must never find real credentials or reach a real endpoint from tests.
for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(key, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
# Every Lambda zip the suite builds (a dozen, for several runtimes) installs the same pinned dependencies: one pip
# install per target, shared by the test workers and later runs (scripts/package_lambda.py, cached_dependencies).
os.environ.setdefault("GATE_PACKAGE_CACHE", os.path.join(tempfile.gettempdir(), f"gate-package-cache-{os.getuid()}"))

from gate.adapters import logs  # noqa: E402

# Decision lines as JSON (pytest shows captured output only for failing tests).
logs.configure()

# The shared HTTP world (`world` fixture: the AWS emulator and the fake Azure DevOps on a ManualClock) for every layer.
pytest_plugins = ["tests.support.world", "tests.support.package"]


_LAYERS = ("unit", "integration", "functional", "e2e", "infra", "performance")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers follow the folders: tests/<layer>/... is marked <layer> (`-m unit`, `-m "not e2e"`...)."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.path)).relative_to(root).parts
        if parts and parts[0] in _LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
