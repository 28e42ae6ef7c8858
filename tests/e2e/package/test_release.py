"""`make release` (scripts/release.py, issue 20): the same sources give the same bytes, dist/ holds exactly the
artifacts, SHA256SUMS and a manifest that says which zips ship bytecode, and a missing CPython is said, not hidden.

Two fast tests build one zip each: this interpreter's runtime on x86_64, compared byte for byte with the session's
zip (tests/support/package.py builds the same thing once per session: a second build, not a third), and another
runtime on arm64 with no CPython of its version reachable (no bytecode, said so). A gate/ edited between the two
builds (a shared checkout) would differ too: rerun before suspecting the build. The whole release twice is slow.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.unit.test_release import _load

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "release.py"
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
PREFIXES = ("/usr/local/bin", "/usr/bin", "/bin", "/opt/homebrew/bin")


def run_release(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), "--dist", str(tmp_path / "dist"), "--notes", str(tmp_path / "notes.md")]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=900, env=env, check=False)


def without_other_pythons(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A runtime version other than this one, and an environment where no CPython of it can be found."""
    for other in ("3.13", "3.12", "3.11"):
        if other != HERE and not any(Path(p, f"python{other}").exists() for p in PREFIXES):
            empty = tmp_path / "no-pyenv"
            empty.mkdir()
            return other, dict(os.environ, PATH="/usr/bin:/bin", PYENV_ROOT=str(empty))
    pytest.skip("every Lambda runtime's CPython is installed system-wide here: nothing to hide")


def check_sums(dist: Path) -> dict[str, str]:
    lines = (dist / "SHA256SUMS").read_text().splitlines()
    sums: dict[str, str] = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert set(sums) == {p.name for p in dist.iterdir()} - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name
    return sums


def differences(first: Path, second: Path) -> tuple[set[str], set[str]]:
    """(entries whose gate/ source was edited between the builds, entries that differ although their source did
    not): only the second kind is the build's fault."""
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        one = {i.filename: (a.read(i), i.external_attr, i.date_time) for i in a.infolist()}
        two = {i.filename: (b.read(i), i.external_attr, i.date_time) for i in b.infolist()}

    def source(name: str) -> str:  # gate/x/__pycache__/y.cpython-311.pyc -> gate/x/y.py
        if not name.endswith(".pyc"):
            return name
        head, _, file = name.rpartition("__pycache__/")
        return head + file.split(".", 1)[0] + ".py"

    changed = {n for n in one.keys() | two.keys() if one.get(n) != two.get(n)}
    edited = {n for n in changed if n.startswith("gate/") and one.get(source(n)) != two.get(source(n))}
    return edited, changed - edited


@pytest.mark.network
@pytest.mark.timeout(900)
def test_a_release_zip_is_the_same_bytes_as_another_build(lambda_zip: Path, tmp_path: Path) -> None:
    from gate import __version__

    proc = run_release(tmp_path, "--no-wheel", "--targets", f"python{HERE}-x86_64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = f"gate-lambda-{__version__}-python{HERE}-x86_64.zip"
    dist = tmp_path / "dist"
    if (dist / ours).read_bytes() != lambda_zip.read_bytes():
        edited, differ = differences(lambda_zip, dist / ours)
        if edited and not differ:
            pytest.skip(f"gate/ was edited between the two builds (shared checkout): {sorted(edited)[:3]}")
        pytest.fail(f"the same sources built twice differ in {sorted(differ)[:10]}")
    sums = check_sums(dist)
    assert set(sums) == {ours, "release-manifest.json"}

    manifest = json.loads((dist / "release-manifest.json").read_text())
    assert (manifest["version"], manifest["tag"]) == (__version__, f"v{__version__}")
    [entry] = manifest["files"]
    assert (entry["file"], entry["runtime"], entry["architecture"]) == (ours, f"python{HERE}", "x86_64")
    assert entry["bytecode"]["compiled_by"].startswith(f"CPython {HERE}.") and entry["bytecode"]["pyc_files"] > 100
    assert entry["sha256"] == sums[ours]
    assert base64.b64decode(entry["source_code_hash"]) == bytes.fromhex(entry["sha256"])  # the module's S3 input
    assert f"{ours}: bytecode compiled by CPython {HERE}." in proc.stdout

    notes = _load("release_notes")
    assert (tmp_path / "notes.md").read_text() == notes.extract((ROOT / "CHANGELOG.md").read_text(), __version__)


@pytest.mark.network
@pytest.mark.timeout(900)
def test_a_runtime_without_its_cpython_ships_no_bytecode_and_says_so(tmp_path: Path) -> None:
    from gate import __version__

    other, env = without_other_pythons(tmp_path)
    target = f"python{other}-arm64"
    refused = run_release(tmp_path, "--no-wheel", "--require-bytecode", "--targets", target, env=env)
    assert refused.returncode == 1 and f"no CPython {other} found" in refused.stderr, refused.stderr
    assert not (tmp_path / "dist").exists()  # refused before anything was built

    proc = run_release(tmp_path, "--no-wheel", "--targets", target, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    theirs = f"gate-lambda-{__version__}-{target}.zip"
    assert f"{theirs}: NO bytecode: no CPython {other} on the build machine" in proc.stdout
    assert f"1 zip(s) ship NO bytecode (no CPython of their runtime here): {theirs}" in proc.stdout
    dist = tmp_path / "dist"
    check_sums(dist)
    [entry] = json.loads((dist / "release-manifest.json").read_text())["files"]
    assert entry["bytecode"] is None and entry["note"].startswith(f"NO bytecode: no CPython {other}")

    with zipfile.ZipFile(dist / theirs) as zf:
        names = zf.namelist()
    assert not [n for n in names if n.endswith(".pyc")]
    native = f"cpython-{other.replace('.', '')}-aarch64-linux-gnu.so"  # built for the runtime and architecture named
    assert [n for n in names if n.startswith("pydantic_core/") and n.endswith(native)], names


def snapshot(target: Path) -> Path:
    """What a release reads, copied once: a shared checkout changes under a build that takes minutes."""
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]", ".terraform*", "*.tfstate*")
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        shutil.copyfile(ROOT / name, target / name)
    for name in ("gate", "cli", "emulator", "bench", "chaos", "docs", "infra"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    return target


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(1800)
def test_a_whole_release_built_twice_is_the_same_bytes(tmp_path: Path) -> None:
    """Every supported runtime and architecture and the wheel, twice from one snapshot (minutes: marked slow)."""
    (tmp_path / "source").mkdir()
    source = snapshot(tmp_path / "source")
    results = []
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
        proc = run_release(tmp_path / run, "--source-dir", str(source))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results.append(check_sums(tmp_path / run / "dist"))
    assert results[0] == results[1]
    release = _load("release")
    version = _load("release_notes").read_version(source / "gate" / "__init__.py")
    zips = {release.zip_name(version, t) for t in release.supported_targets()}
    wheel = f"asg_termination_gate-{version}-py3-none-any.whl"
    assert set(results[0]) == zips | {wheel, "release-manifest.json"}
    with zipfile.ZipFile(tmp_path / "one" / "dist" / wheel) as zf:
        infos = zf.infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not [i.filename for i in infos if i.filename.startswith("tests/")]
