"""The Lambda zip as `make package` builds it (scripts/package_lambda.py, bytecode for this interpreter), built once
per test session (per xdist worker) for every test that runs the packaged unit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_zip(out: Path) -> Path:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    script = REPO_ROOT / "scripts" / "package_lambda.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--output", str(out), "--python-version", version],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: tests that need to change the zip build their own."""
    return build_zip(tmp_path_factory.mktemp("lambda-zip") / "gate-lambda.zip")
