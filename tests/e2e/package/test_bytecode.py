"""scripts/package_lambda.py ships bytecode compiled for the runtime's Python, or says clearly why it does not.

The zip's .pyc are what a cold start loads instead of compiling every module (docs/performance.md (c)): they must be
valid for the runtime's CPython (its magic number and cache tag), unchecked-hash (valid whatever mtimes the unpacked
files get), the same bytes at every build, and actually used by the import system.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import CodeType, ModuleType

import pytest

from tests.infra.test_package_lambda import build

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = REPO_ROOT / "scripts" / "package_lambda.py"
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
TAG = sys.implementation.cache_tag  # cpython-3XY
OTHER = next(v for v in ("3.11", "3.12", "3.13") if v != HERE)  # a Lambda runtime this interpreter is not

FAKE_GATE = {
    "gate/__init__.py": '"""fake gate package for the packaging test"""\n',
    "gate/handler.py": "import json\n\nimport pydantic\nimport structlog\n\nfrom gate import settings\n\n\n"
    "def handle(event, context):\n    return json.dumps({'ok': settings.FLAGS})\n",
    "gate/settings.py": "FLAGS = frozenset({'a', 'b', 'c', 'd', 'e'})\n",  # a frozenset constant: hash-ordered
}


@pytest.fixture(scope="module")
def pl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_lambda", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["package_lambda"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def fake_source(root: Path) -> Path:
    for rel, text in FAKE_GATE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def check_pyc(data: bytes, source: bytes, name: str) -> CodeType:
    """A pyc this interpreter loads without looking at the source: magic, flags = hash-based and unchecked, the
    source's hash, and a code object recording the zip-relative file name."""
    assert data[:4] == importlib.util.MAGIC_NUMBER, name
    assert int.from_bytes(data[4:8], "little") == 0b01, name  # bit 0: hash-based; bit 1 (check_source) unset
    assert data[8:16] == importlib.util.source_hash(source), name
    code = marshal.loads(data[16:])
    assert isinstance(code, CodeType) and code.co_filename == name
    return code


def pyc_name(name: str) -> str:
    head, _, file = name.rpartition("/")
    return f"{head + '/' if head else ''}__pycache__/{file[:-3]}.{TAG}.pyc"


# -- without the network: the compiler choice and the compile step ---------------------------------------------------


def test_this_interpreter_compiles_for_its_own_version(pl: ModuleType) -> None:
    compiler = pl.find_compiler(pl.Target(HERE))
    assert compiler.python == sys.executable and compiler.version.startswith(HERE + ".")


def test_no_python_of_the_runtimes_version_means_no_compiler(
    pl: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / f"python{OTHER}"  # a pyenv shim for a version that is not selected: on PATH, does not run
    shim.write_text("#!/bin/sh\necho 'pyenv: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pl.find_compiler(pl.Target(OTHER)) is None
    message = pl.no_compiler_message(pl.Target(OTHER))
    assert f"no Python {OTHER} to compile bytecode for python{OTHER}" in message
    assert f"--compile-python /path/to/python{OTHER}" in message and "\n" not in message


def test_a_named_interpreter_of_another_version_is_refused(pl: ModuleType) -> None:
    with pytest.raises(pl.PackageError, match=f"is cpython {HERE}.*needs CPython {OTHER}"):
        pl.find_compiler(pl.Target(OTHER), sys.executable)
    with pytest.raises(pl.PackageError, match="does not run"):
        pl.find_compiler(pl.Target(HERE), "/nonexistent/python")


def test_compiled_bytecode_is_valid_unchecked_and_the_same_every_time(pl: ModuleType, tmp_path: Path) -> None:
    src = fake_source(tmp_path / "src")
    entries = {name: src / name for name in FAKE_GATE}
    (src / "gate" / "broken.py").write_text("def (:\n")
    entries["gate/broken.py"] = src / "gate" / "broken.py"
    compiler = pl.find_compiler(pl.Target(HERE))
    first, failed = pl.compile_bytecode(entries, compiler, tmp_path / "one")
    second, _ = pl.compile_bytecode(entries, compiler, tmp_path / "two")
    assert failed == ["gate/broken.py"]
    assert sorted(first) == sorted(pyc_name(n) for n in FAKE_GATE)
    for name in FAKE_GATE:
        data = first[pyc_name(name)].read_bytes()
        check_pyc(data, (src / name).read_bytes(), name)
        assert data == second[pyc_name(name)].read_bytes(), name  # frozenset constant included


def test_no_bytecode_and_a_compiler_contradict(pl: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(pl.PackageError, match="contradict"):
        pl.build(tmp_path / "x.zip", tmp_path, bytecode=False, compile_python=sys.executable)


# -- full builds (pip installs the dependencies) ---------------------------------------------------------------------


@pytest.mark.network
@pytest.mark.timeout(900)
def test_a_zip_for_this_python_ships_valid_bytecode_that_the_import_uses(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "src")
    zips = [tmp_path / "a" / "gate-lambda.zip", tmp_path / "b" / "gate-lambda.zip"]
    for out in zips:
        result = build(out, source, "--runtime", f"python{HERE}", "--bytecode")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"compiled by CPython {HERE}." in result.stdout and "unchecked-hash" in result.stdout
    assert hashlib.sha256(zips[0].read_bytes()).digest() == hashlib.sha256(zips[1].read_bytes()).digest()

    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
        sources = [n for n in names if n.endswith(".py")]
        pycs = {n for n in names if n.endswith(".pyc")}
        assert names == sorted(names)
        assert {pyc_name(n) for n in sources} <= pycs, "a .py without its bytecode"
        assert all(f".{TAG}.pyc" in n and "/__pycache__/" in f"/{n}" for n in pycs)
        assert {"pydantic/__pycache__/main." + TAG + ".pyc", "gate/__pycache__/handler." + TAG + ".pyc"} <= pycs
        for name in ("gate/handler.py", "gate/settings.py", "structlog/_config.py", "pydantic/main.py"):
            check_pyc(zf.read(pyc_name(name)), zf.read(name), name)
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.external_attr >> 16 == 0o100644, info.filename
        task = tmp_path / "task"
        zf.extractall(task)  # extractall gives every file today's mtime: unchecked-hash bytecode does not care

    # Import it as Lambda would (read-only code, no bytecode written): nothing from the zip compiled from source.
    probe = (
        "import sys\n"
        "from importlib.machinery import SourceFileLoader\n"
        "compiled = []\n"
        "original = SourceFileLoader.source_to_code\n"
        "def counted(self, data, path, *a, **k):\n"
        "    compiled.append(path)\n"
        "    return original(self, data, path, *a, **k)\n"
        "SourceFileLoader.source_to_code = counted\n"
        "import gate.handler, pydantic, structlog\n"
        "print(gate.handler.__file__, pydantic.__file__)\n"
        f"print(sorted(p for p in compiled if p.startswith({str(task)!r})))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(task))
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True, cwd=task, env=env
    )
    where, compiled = run.stdout.strip().splitlines()
    assert where.split() == [str(task / "gate" / "handler.py"), str(task / "pydantic" / "__init__.py")]
    assert compiled == "[]"


@pytest.mark.network
@pytest.mark.timeout(900)
def test_without_a_python_of_the_runtimes_version_the_zip_ships_none_and_says_so(tmp_path: Path) -> None:
    source = fake_source(tmp_path / "src")
    empty = tmp_path / "bin"
    empty.mkdir()  # PATH without python3.X: only this interpreter, which is another version
    result = build(tmp_path / "auto.zip", source, "--runtime", f"python{OTHER}", path=str(empty))
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stderr.splitlines() if "bytecode" in line]
    assert len(notes) == 1 and notes[0].startswith("package_lambda: note: the zip ships no bytecode")
    assert f"run the build with Python {OTHER} or pass --compile-python" in notes[0]
    assert "bytecode: none" in result.stdout
    with zipfile.ZipFile(tmp_path / "auto.zip") as zf:
        assert not [n for n in zf.namelist() if n.endswith(".pyc") or "__pycache__" in n]

    strict = build(tmp_path / "strict.zip", source, "--runtime", f"python{OTHER}", "--bytecode", path=str(empty))
    assert strict.returncode == 1
    assert strict.stderr.strip().startswith(f"package_lambda: --bytecode: no Python {OTHER} to compile bytecode")
    assert len(strict.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "strict.zip").exists()

    off = build(tmp_path / "off.zip", source, "--runtime", f"python{HERE}", "--no-bytecode")
    assert off.returncode == 0 and "bytecode: none" in off.stdout and "note:" not in off.stderr
    with zipfile.ZipFile(tmp_path / "off.zip") as zf:
        assert not [n for n in zf.namelist() if n.endswith(".pyc")]
