"""The wheel ships what users run (the gate, the CLI, the emulator, the benchmarks, the chaos simulation) and no test
code; its extras split the optional dependencies (issue 23).

The source is copied to a temporary directory first (pyproject.toml, README.md, LICENSE and every top-level package,
tests/ included, so that leaving tests out is what is checked): pip builds in the source tree and would otherwise
write build/ and *.egg-info into the clone while other tests run. The build backend comes from PyPI through pip's
configured index (build isolation: the venv's own setuptools is older than pyproject.toml needs).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = {"gate", "cli", "emulator", "bench", "chaos"}


def source_copy(target: Path) -> Path:
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, target / name)
    packages = [p for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    assert SHIPPED | {"tests"} <= {p.name for p in packages}
    for package in packages:
        shutil.copytree(package, target / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    source = source_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    proc = subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [built] = out.glob("asg_termination_gate-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.network
@pytest.mark.timeout(900)
def test_the_wheel_holds_only_what_users_run(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top == SHIPPED, sorted(top)
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/") or "/support/" in n]
    for module in ("gate/handler.py", "cli/main.py", "cli/doctor.py", "emulator/aws.py", "bench/plot.py"):
        assert module in names, module
    for test_only in ("entra", "github", "iam", "lambda_runtime"):  # moved to tests/support
        assert f"emulator/{test_only}.py" not in names, test_only
    assert "emulator/logs.py" in names  # the Logs query definitions the module creates: `gate emulator` serves them


@pytest.mark.network
@pytest.mark.timeout(900)
def test_the_extras_and_the_command(wheel: zipfile.ZipFile) -> None:
    [meta_name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(wheel.read(meta_name).decode())
    assert set(meta.get_all("Provides-Extra") or []) == {"emulator", "bench", "dev"}
    requires = meta.get_all("Requires-Dist") or []

    def extra(name: str) -> list[str]:
        return [r.split(";")[0].strip() for r in requires if f'extra == "{name}"' in r]

    assert not [r for r in requires if ";" not in r and r.startswith(("moto", "matplotlib", "pytest"))]
    assert any(r.startswith("moto") for r in extra("emulator"))
    assert not [r for r in extra("emulator") if r.startswith("matplotlib")]
    assert set(extra("bench")) == {"asg-termination-gate[emulator]", "matplotlib>=3.8"}
    [own] = [r for r in extra("dev") if r.startswith("asg-termination-gate[")]  # dev: a superset, for `make test`
    assert set(own.removeprefix("asg-termination-gate[").removesuffix("]").split(",")) == {"emulator", "bench"}
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "gate = cli.main:app" in wheel.read(entry_points).decode()
