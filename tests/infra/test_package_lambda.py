"""scripts/package_lambda.py: a reproducible Lambda zip (pip reaches PyPI through its configured index)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "package_lambda.py"
MAX_BYTES = 15 * 1024 * 1024

FAKE_GATE = {
    "gate/__init__.py": '"""fake gate package for the packaging test"""\n',
    "gate/handler.py": "import json\n\nimport pydantic\nimport structlog\n\n\ndef handle(event, context):\n"
    "    return json.dumps({'ok': True})\n",
    "gate/settings.py": "import boto3\nfrom pydantic_settings import BaseSettings\n",
    "emulator/__init__.py": "import moto\n",
    "emulator/aws.py": "import werkzeug\n",
    "gate/tests/test_x.py": "def test_x():\n    pass\n",
    "gate/test_inline.py": "",
    "gate/__pycache__/handler.cpython-312.pyc": "",
    "cli/__init__.py": "import typer\n",
}


def make_fake_source(root: Path, extra: dict[str, str] | None = None) -> Path:
    for rel, text in {**FAKE_GATE, **(extra or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def build(output: Path, source_dir: Path, *options: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the packager as a user would; `path` replaces PATH (which interpreters it can find)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output), "--source-dir", str(source_dir), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=dict(os.environ, PATH=path) if path is not None else None,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_zip(path: Path, native_suffix: str = "cpython-312-x86_64-linux-gnu.so") -> list[str]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == sorted(names), "entries must be sorted"
    assert "gate/handler.py" in names
    assert "gate/__init__.py" in names
    assert not [n for n in names if n.startswith("emulator/")], "the emulator must not be shipped"
    assert not [n for n in names if n.startswith("cli/")]
    pycs = [n for n in names if n.endswith(".pyc")]
    for pyc in pycs:  # only the bytecode package_lambda compiled: one per shipped .py, for the target's CPython
        head, _, file = pyc.rpartition("__pycache__/")
        stem, tag, _ = file.rsplit(".", 2)
        assert tag == "cpython-" + native_suffix.split("-")[1] and f"{head}{stem}.py" in names, pyc
    assert not [n for n in names if "__pycache__" in n and not n.endswith(".pyc")]
    assert not [n for n in names if n.endswith(".dist-info/RECORD")]
    assert not [n for n in names if n.startswith(("boto3/", "botocore/"))], "the runtime provides boto3/botocore"
    for dist in ("pydantic/", "pydantic_core/", "pydantic_settings/", "requests/", "structlog/"):
        assert any(n.startswith(dist) for n in names), dist
    assert any(n.startswith("pydantic_core/") and n.endswith(native_suffix) for n in names), native_suffix
    assert not [n for n in names if n.endswith(".so") and "linux-gnu" in n and not n.endswith(native_suffix)]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.external_attr >> 16 == 0o100644, info.filename
    assert path.stat().st_size < MAX_BYTES
    return names


@pytest.mark.network
@pytest.mark.timeout(900)
def test_fake_tree_builds_reproducibly(tmp_path: Path) -> None:
    source = make_fake_source(tmp_path / "src")
    first, second = tmp_path / "a" / "gate-lambda.zip", tmp_path / "b" / "gate-lambda.zip"
    for out in (first, second):
        result = build(out, source)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "sha256: " in result.stdout and " MB)" in result.stdout, result.stdout
    assert sha256(first) == sha256(second)
    assert f"sha256: {sha256(first)}" in result.stdout
    names = check_zip(first)
    assert "gate/test_inline.py" not in names and "gate/tests/test_x.py" not in names
    assert "gate/settings.py" in names


@pytest.mark.network
@pytest.mark.timeout(900)
def test_unshipped_import_fails_the_build(tmp_path: Path) -> None:
    source = make_fake_source(tmp_path / "src", {"gate/handler.py": "from emulator import aws\n"})
    result = build(tmp_path / "out.zip", source)
    assert result.returncode == 1
    assert "gate/handler.py:1: imports emulator" in result.stderr
    assert not (tmp_path / "out.zip").exists()


@pytest.mark.network
@pytest.mark.timeout(900)
def test_real_tree_builds_reproducibly(tmp_path: Path) -> None:
    if not (REPO_ROOT / "gate" / "handler.py").is_file():
        pytest.skip("gate/handler.py does not exist yet")
    first, second = tmp_path / "a" / "gate-lambda.zip", tmp_path / "b" / "gate-lambda.zip"
    for out in (first, second):
        result = build(out, REPO_ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
    assert sha256(first) == sha256(second)
    check_zip(first)


@pytest.mark.network
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("options", "suffix"),
    [
        (("--runtime", "python3.11"), "cpython-311-x86_64-linux-gnu.so"),
        (("--python-version", "3.13", "--arch", "arm64"), "cpython-313-aarch64-linux-gnu.so"),
        (("--arch", "arm64"), "cpython-312-aarch64-linux-gnu.so"),
    ],
)
def test_builds_for_the_modules_runtime_and_architecture(tmp_path: Path, options: tuple[str, ...], suffix: str) -> None:
    out = tmp_path / "gate-lambda.zip"
    result = build(out, make_fake_source(tmp_path / "src"), *options)
    assert result.returncode == 0, result.stdout + result.stderr
    check_zip(out, suffix)


def test_rejects_a_runtime_lambda_does_not_offer(tmp_path: Path) -> None:
    result = build(tmp_path / "out.zip", make_fake_source(tmp_path / "src"), "--runtime", "python3.8")
    assert result.returncode == 1 and "not a Lambda runtime" in result.stderr
    assert not (tmp_path / "out.zip").exists()
