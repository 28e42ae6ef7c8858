#!/usr/bin/env python3
"""Build the gate's Lambda deployment package, reproducibly: same sources and pins -> the same bytes and sha256.

    python scripts/package_lambda.py [--output build/gate-lambda.zip] [--source-dir REPO_ROOT]
                                     [--runtime python3.12 | --python-version 3.12] [--arch x86_64|arm64]
                                     [--bytecode | --no-bytecode] [--compile-python PATH]

Contents: the `gate` package from SOURCE_DIR (without caches and test files; the `cli` package, with the emulator,
the fakes and the benchmarks, is not shipped) plus its runtime dependencies pydantic, pydantic-settings, requests
and structlog (and what they pull in), installed by pip for the Lambda runtime and architecture (default
python3.12 on x86_64: manylinux2014_x86_64 wheels for CPython 3.12; arm64: manylinux2014_aarch64), wheels only.
Match the module's lambda_runtime and lambda_architecture. boto3/botocore are NOT bundled: the Lambda Python
runtime provides them.

Pins: each distribution is pinned to the version installed in the Python running this script (the versions the
test suite ran against) when it is installed there; otherwise pip picks the newest (a warning says so).
Bytecode: Lambda unpacks the zip read-only, so without .pyc every module in it is compiled from source at every
cold start. The zip therefore ships `__pycache__/*.cpython-3XY.pyc` beside every .py (the sources stay, for
tracebacks), compiled with the `unchecked-hash` invalidation mode (valid whatever the unpacked files' mtimes; never
re-checked against the source, which cannot change in /var/task). Only a Python of the runtime's version can write
them: by default the build uses this interpreter if its version matches, else `python3.X` from PATH, else it ships
no bytecode and says so in one line. `--compile-python PATH` names the interpreter; `--bytecode` fails instead of
shipping none; `--no-bytecode` ships none.

Reproducibility: entries sorted, timestamps 1980-01-01 00:00:00, modes 0644, no directory entries, no *.dist-info/
RECORD|INSTALLER|REQUESTED|direct_url.json (they record install-time details), no bin/, no .pyc but the ones
compiled here (with PYTHONHASHSEED=0 and the zip-relative path as the recorded file name): the same sources, pins,
target and compiling Python version give the same bytes. A build with bytecode and one without differ, and so do
their sha256.
Before writing, every import in the shipped gate modules is checked against the standard library, the package
itself, the bundled distributions and the runtime's boto3/botocore.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "build" / "gate-lambda.zip"

RUNTIME_REQUIREMENTS = ("pydantic", "pydantic-settings", "requests", "structlog", "msal")  # msal: Entra sign-in
# Provided by the Lambda Python runtime: never bundled (boto3 would add ~15 MB and shadow the runtime's copy).
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath")


class PackageError(RuntimeError):
    pass


# Lambda's Python runtimes (python3.X) and instruction sets -> pip's target platform tags.
RUNTIMES = ("3.11", "3.12", "3.13")
DEFAULT_PYTHON_VERSION = "3.12"
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}


@dataclass(frozen=True)
class Target:
    """What the zip is built for: the Lambda runtime's Python version and the function's architecture."""

    python_version: str = DEFAULT_PYTHON_VERSION
    arch: str = "x86_64"

    def __post_init__(self) -> None:
        if self.python_version not in RUNTIMES:
            raise PackageError(f"python version {self.python_version} is not a Lambda runtime ({', '.join(RUNTIMES)})")
        if self.arch not in PLATFORMS:
            raise PackageError(f"architecture {self.arch} is not one of {', '.join(PLATFORMS)}")

    @property
    def runtime(self) -> str:
        return f"python{self.python_version}"

    def pip_args(self) -> tuple[str, ...]:
        platform = PLATFORMS[self.arch]
        return ("--platform", platform, "--implementation", "cp", "--python-version", self.python_version,
                "--only-binary=:all:")  # fmt: skip


def parse_runtime(value: str) -> str:
    """python3.12 or 3.12 -> 3.12."""
    return value.removeprefix("python")


# -- bytecode for the runtime's Python --------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiler:
    """The CPython that writes the zip's bytecode: its version must be the runtime's (the .pyc format is per x.y)."""

    python: str
    version: str  # x.y.z


_VERSION_PROBE = "import platform, sys; print(sys.implementation.name, platform.python_version())"


def python_version_of(python: str) -> tuple[str, str] | None:
    """(implementation, x.y.z) of the interpreter `python`, or None when it does not run (a pyenv shim for a
    version that is not selected, say)."""
    try:
        proc = subprocess.run([python, "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = proc.stdout.split()
    return (parts[0], parts[1]) if proc.returncode == 0 and len(parts) == 2 else None


def _is_target(found: tuple[str, str] | None, target: Target) -> bool:
    return found is not None and found[0] == "cpython" and found[1].rsplit(".", 1)[0] == target.python_version


def find_compiler(target: Target, explicit: str | None = None) -> Compiler | None:
    """`explicit` (which must be CPython x.y for the target's python3.x), else this interpreter if it is, else
    `python3.x` on PATH if it runs and is; None when there is none."""
    if explicit is not None:
        found = python_version_of(explicit)
        if found is None:
            raise PackageError(f"--compile-python {explicit} does not run")
        if not _is_target(found, target):
            raise PackageError(
                f"--compile-python {explicit} is {found[0]} {found[1]}: the bytecode for {target.runtime} needs "
                f"CPython {target.python_version}"
            )
        return Compiler(explicit, found[1])
    here = (sys.implementation.name, platform.python_version())
    if _is_target(here, target):
        return Compiler(sys.executable, here[1])
    on_path = shutil.which(target.runtime)
    if on_path is not None:
        found = python_version_of(on_path)
        if _is_target(found, target):
            assert found is not None
            return Compiler(on_path, found[1])
    return None


def no_compiler_message(target: Target) -> str:
    return (
        f"no Python {target.python_version} to compile bytecode for {target.runtime} (this is Python "
        f"{platform.python_version()} and no working {target.runtime} is on PATH): run the build with Python "
        f"{target.python_version} or pass --compile-python /path/to/{target.runtime}"
    )


# Runs in the compiling interpreter. stdin: [[zip name, source path], ...]; argv[1]: the staging directory. Writes
# NAME's bytecode where the import system looks for it (DIR/__pycache__/STEM.cpython-3XY.pyc, no optimisation level:
# Lambda runs python without -O), records the zip name as the file name (not the temporary path: the bytes stay the
# same; the import system shows the real path in tracebacks anyway). Prints {pyc zip name: staged file} and the
# sources that do not compile for this version (they would fail to import too).
_COMPILE = """
import json, py_compile, sys, warnings
warnings.simplefilter("ignore")  # a dependency's SyntaxWarning/DeprecationWarning is not the build's business
staging, tag, mode = sys.argv[1], sys.implementation.cache_tag, py_compile.PycInvalidationMode.UNCHECKED_HASH
compiled, failed = {}, []
for name, source in json.load(sys.stdin):
    head, _, file = name.rpartition("/")
    pyc = (head + "/" if head else "") + "__pycache__/" + file[:-3] + "." + tag + ".pyc"
    try:
        py_compile.compile(source, cfile=staging + "/" + pyc, dfile=name, doraise=True, optimize=0,
                           invalidation_mode=mode)
    except py_compile.PyCompileError:
        failed.append(name)
    else:
        compiled[pyc] = staging + "/" + pyc
print(json.dumps({"compiled": compiled, "failed": failed}))
"""


def compile_bytecode(entries: dict[str, Path], compiler: Compiler, staging: Path) -> tuple[dict[str, Path], list[str]]:
    """Bytecode for every .py in `entries`, written by `compiler` under `staging`: ({pyc zip name: file}, the .py
    names that do not compile). PYTHONHASHSEED=0: set and frozenset constants are marshalled in hash order."""
    sources = [[name, str(path)] for name, path in sorted(entries.items()) if name.endswith(".py")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [compiler.python, "-c", _COMPILE, str(staging)],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        env=dict(env, PYTHONHASHSEED="0"),
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise PackageError(f"compiling bytecode with {compiler.python} failed ({proc.returncode}):\n{proc.stderr}")
    result = json.loads(proc.stdout)
    return {name: Path(path) for name, path in result["compiled"].items()}, result["failed"]


# gate/ holds exactly the Lambda's code (the emulator, fakes and benchmarks live under cli/): only caches are left out.
EXCLUDED_SOURCE_PARTS = ("__pycache__",)
DIST_INFO_DROPPED = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
MAX_SIZE_BYTES = 50 * 1024 * 1024  # Lambda's limit for a direct zip upload


@dataclass(frozen=True)
class BuildResult:
    path: Path
    size: int
    sha256: str
    requirements: list[str]
    target: Target
    bytecode: Compiler | None = None  # who compiled the zip's .pyc; None: the zip ships none
    pyc_files: int = 0


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """`name==version` for each name installed here, else bare `name` (returned as the second list)."""
    pins, unpinned = [], []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
            unpinned.append(name)
    return pins, unpinned


def constraints_from_environment() -> list[str]:
    """Pin every transitive dependency too, to the version installed here (constraints apply only if pulled in)."""
    seen: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and _normalise(name) not in seen:
            seen[_normalise(name)] = f"{name}=={dist.version}"
    runtime = {_normalise(n) for n in PROVIDED_BY_RUNTIME}
    return sorted(v for k, v in seen.items() if k not in runtime)


CACHE_ENV = "GATE_PACKAGE_CACHE"


def cached_dependencies(
    cache: Path, requirements: list[str], constraints: list[str], platform: Target, install: Callable[[Path], None]
) -> Path:
    """The installed dependencies for these pins and this target, from `cache` (GATE_PACKAGE_CACHE) when an earlier
    build made them: pip's answer is a function of exactly these inputs, so the test suite's dozen builds share one
    install per target instead of running pip a dozen times. Read-only once made; concurrent builds (test workers)
    each install into a private directory and the first rename wins."""
    key = hashlib.sha256(json.dumps([requirements, constraints, platform.pip_args()]).encode()).hexdigest()[:24]
    done = cache / key
    if not done.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
        try:
            install(private / "site")
            private.rename(done)  # atomic: `done` exists only complete
        except OSError:
            if not done.is_dir():  # not "another build finished first"
                raise
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return done / "site"


def install_dependencies(target: Path, requirements: list[str], constraints: list[str], platform: Target) -> None:
    target.mkdir(parents=True, exist_ok=True)
    constraints_file = target.parent / "constraints.txt"
    constraints_file.write_text("\n".join(constraints) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-warn-script-location",
        *platform.pip_args(),
        "--target",
        str(target),
        "--constraint",
        str(constraints_file),
        *requirements,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    noise = "is ignored: it is neither a file nor a directory"
    stderr = "\n".join(line for line in proc.stderr.splitlines() if noise not in line)
    if proc.returncode != 0:
        raise PackageError(f"pip install failed ({proc.returncode}):\n{proc.stdout}\n{stderr}")
    if stderr.strip():
        print(stderr, file=sys.stderr)
    for name in PROVIDED_BY_RUNTIME:  # in case something depends on them: the runtime's copy wins anyway
        for path in target.glob(f"{name.replace('-', '_')}*"):
            raise PackageError(f"{path.name} was pulled in: it must come from the Lambda runtime, not the zip")


def _excluded_source(rel: Path) -> bool:
    if any(part in EXCLUDED_SOURCE_PARTS for part in rel.parts[1:]):
        return True
    name = rel.name
    return (
        name.endswith((".pyc", ".pyo"))
        or name.startswith(("test_", "."))
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def gate_files(source_dir: Path) -> Iterator[tuple[str, Path]]:
    package = source_dir / "gate"
    if not (package / "__init__.py").is_file():
        raise PackageError(f"{package}/__init__.py not found: --source-dir must contain the gate package")
    for path in sorted(package.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(source_dir)
        if _excluded_source(rel):
            continue
        yield rel.as_posix(), path


def dependency_files(target: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(target.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(target)
        parts = rel.parts
        if parts[0] == "bin" or "__pycache__" in parts or rel.suffix in (".pyc", ".pyo"):
            continue
        if parts[0].endswith(".dist-info") and rel.name in DIST_INFO_DROPPED:
            continue
        if parts[0] == "gate":
            raise PackageError("a dependency installed a top-level 'gate' package")
        yield rel.as_posix(), path


def _module_imports(tree: ast.AST) -> Iterator[tuple[str, int, bool]]:
    """(module, line, deferred) for absolute imports. deferred: inside a function (runs only when called).

    Skipped: `if TYPE_CHECKING:` bodies and `try:` blocks that catch ImportError/ModuleNotFoundError.
    """

    def guarded(node: ast.AST) -> bool:
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            return name == "TYPE_CHECKING"
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                if any(getattr(n, "id", "") in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
        return False

    def walk(nodes: Iterable[ast.AST], deferred: bool) -> Iterator[tuple[str, int, bool]]:
        for child in nodes:
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, deferred
            elif isinstance(child, ast.ImportFrom):
                if child.level == 0 and child.module:
                    yield child.module, child.lineno, deferred
            elif isinstance(child, ast.If) and guarded(child):
                yield from walk(child.orelse, deferred)  # the else branch of `if TYPE_CHECKING` does run
            elif isinstance(child, ast.Try) and guarded(child):
                continue
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(ast.iter_child_nodes(child), True)
            else:
                yield from walk(ast.iter_child_nodes(child), deferred)

    yield from walk(ast.iter_child_nodes(tree), False)


def check_imports(entries: dict[str, Path]) -> list[str]:
    """Fail if a shipped gate module imports, at import time, something neither bundled, nor stdlib, nor in the
    runtime (boto3/botocore). The same inside a function only warns (returned): e.g. a local-only backend."""
    top_levels = {name.split("/", 1)[0] for name in entries if "/" in name} | {
        Path(name).stem for name in entries if "/" not in name and name.endswith(".py")
    }
    available = set(sys.stdlib_module_names) | top_levels | {"boto3", "botocore"}
    problems: list[str] = []
    warnings: list[str] = []
    for name, path in entries.items():
        if not (name.startswith("gate/") and name.endswith(".py")):
            continue
        tree = ast.parse(path.read_bytes(), filename=name)
        for module, lineno, deferred in _module_imports(tree):
            root = module.split(".", 1)[0]
            if module == "cli" or module.startswith("cli."):
                message = f"{name}:{lineno}: imports {module}, which is not shipped"
            elif root not in available:
                message = f"{name}:{lineno}: imports {module}, which is not in the package or the runtime"
            else:
                continue
            (warnings if deferred else problems).append(message)
    if problems:
        raise PackageError("unresolvable imports in the Lambda package:\n  " + "\n  ".join(problems))
    return warnings


def write_zip(output: Path, entries: dict[str, Path]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name].read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, output)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(
    output: Path,
    source_dir: Path,
    *,
    pin: bool = True,
    import_check: bool = True,
    for_lambda: Target | None = None,
    bytecode: bool | None = None,
    compile_python: str | None = None,
) -> BuildResult:
    """bytecode: True ships bytecode or fails, False ships none, None (default) ships it when a Python of the
    runtime's version is found (see find_compiler) and otherwise says on stderr that the zip has none."""
    lambda_target = for_lambda or Target()
    if bytecode is False and compile_python is not None:
        raise PackageError("--compile-python and --no-bytecode contradict each other")
    compiler = None if bytecode is False else find_compiler(lambda_target, compile_python)
    if compiler is None and bytecode:
        raise PackageError(f"--bytecode: {no_compiler_message(lambda_target)}")
    if compiler is None and bytecode is None:
        print(
            f"package_lambda: note: the zip ships no bytecode, so every cold start compiles its modules (slower): "
            f"{no_compiler_message(lambda_target)}",
            file=sys.stderr,
        )
    entries: dict[str, Path] = {}
    pyc_files = 0
    with tempfile.TemporaryDirectory(prefix="gate-lambda-") as tmp:
        target = Path(tmp) / "site"
        if pin:
            requirements, unpinned = pinned_requirements(RUNTIME_REQUIREMENTS)
            constraints = constraints_from_environment()
            for name in unpinned:
                print(f"warning: {name} is not installed here; pip picks its newest version", file=sys.stderr)
        else:
            requirements, constraints = list(RUNTIME_REQUIREMENTS), []
        cache = os.environ.get(CACHE_ENV)
        if cache:
            target = cached_dependencies(
                Path(cache),
                requirements,
                constraints,
                lambda_target,
                lambda into: install_dependencies(into, requirements, constraints, lambda_target),
            )
        else:
            install_dependencies(target, requirements, constraints, lambda_target)
        for name, path in dependency_files(target):
            entries[name] = path
        snapshot = Path(tmp) / "source"  # one read of each source: its .pyc and its .py in the zip are the same text
        for name, path in gate_files(source_dir):
            entries[name] = snapshot / name
            entries[name].parent.mkdir(parents=True, exist_ok=True)
            entries[name].write_bytes(path.read_bytes())
        if import_check:
            for warning in check_imports(entries):
                print(f"warning: {warning} (inside a function: fails only if called)", file=sys.stderr)
        if compiler is not None:
            pycs, failed = compile_bytecode(entries, compiler, Path(tmp) / "bytecode")
            if failed:
                print(
                    f"warning: {len(failed)} file(s) do not compile for {lambda_target.runtime} and ship without "
                    f"bytecode: {', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}",
                    file=sys.stderr,
                )
            entries.update(pycs)
            pyc_files = len(pycs)
        write_zip(output, entries)
    size = output.stat().st_size
    if size > MAX_SIZE_BYTES:
        raise PackageError(f"{output} is {size} bytes, over Lambda's 50 MB zip limit")
    return BuildResult(
        path=output,
        size=size,
        sha256=sha256_of(output),
        requirements=requirements,
        target=lambda_target,
        bytecode=compiler,
        pyc_files=pyc_files,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write (default: %(default)s)")
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=REPO_ROOT,
        help="directory holding the gate/ package (default: the repository root)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let pip pick the newest versions instead of this environment's"
    )
    parser.add_argument("--no-import-check", action="store_true", help="skip the check of the gate's imports")
    version = parser.add_mutually_exclusive_group()
    version.add_argument(
        "--runtime",
        type=parse_runtime,
        dest="python_version",
        help=f"Lambda runtime, e.g. python{DEFAULT_PYTHON_VERSION} (the module's lambda_runtime)",
    )
    version.add_argument(
        "--python-version",
        dest="python_version",
        help=f"the runtime's Python version (default {DEFAULT_PYTHON_VERSION})",
    )
    parser.add_argument(
        "--arch", choices=sorted(PLATFORMS), default="x86_64", help="the module's lambda_architecture (default x86_64)"
    )
    parser.add_argument(
        "--bytecode",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ship .pyc compiled for the runtime's Python (--bytecode: fail without a Python of that version; "
        "--no-bytecode: ship none; default: ship them when such a Python is found, else say so)",
    )
    parser.add_argument(
        "--compile-python",
        metavar="PATH",
        help="the CPython of the runtime's version that compiles the bytecode (default: this interpreter if it is "
        "one, else python3.X from PATH)",
    )
    args = parser.parse_args(argv)
    try:
        result = build(
            args.output.resolve(),
            args.source_dir.resolve(),
            pin=not args.no_pin,
            import_check=not args.no_import_check,
            for_lambda=Target(args.python_version or DEFAULT_PYTHON_VERSION, args.arch),
            bytecode=args.bytecode,
            compile_python=args.compile_python,
        )
    except PackageError as exc:
        print(f"package_lambda: {exc}", file=sys.stderr)
        return 1
    print(f"package_lambda: wrote {result.path} for {result.target.runtime} on {result.target.arch}")
    print(f"  requirements: {' '.join(result.requirements)} (+ boto3/botocore from the Lambda runtime)")
    if result.bytecode is not None:
        print(
            f"  bytecode: {result.pyc_files} .pyc (unchecked-hash) compiled by CPython {result.bytecode.version} "
            f"({result.bytecode.python})"
        )
    else:
        print("  bytecode: none (every cold start compiles the zip's modules from source)")
    print(f"  size:   {result.size} bytes ({result.size / 1_000_000:.2f} MB)")
    print(f"  sha256: {result.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
