#!/usr/bin/env python3
"""Build a release into dist/: what a user installs without this repository's dev tools (`make release`).

    python scripts/release.py [--tag vX.Y.Z] [--dist dist] [--notes build/release-notes.md]
                              [--targets python3.12-x86_64 ...] [--compile-python 3.12=/path/to/python3.12 ...]
                              [--require-bytecode] [--no-wheel] [--source-dir REPO_ROOT]

dist/ holds, for the version in gate/__init__.py (the one version source):
* gate-lambda-VERSION-RUNTIME-ARCH.zip: the Lambda package (scripts/package_lambda.py) for every runtime and
  architecture the Terraform module accepts (lambda.runtime python3.11-3.13, lambda.architecture x86_64/arm64),
  with bytecode compiled by a CPython of that runtime's version when one is on this machine, and none (said in the
  output and in the manifest) when not;
* asg_termination_gate-VERSION-py3-none-any.whl: the CLI (`gate`); the emulator and the benchmarks stay extras;
* release-manifest.json: what each file is (runtime, architecture, bytecode, pins, sha256);
* SHA256SUMS: `sha256sum -c SHA256SUMS` checks every other file.
The release notes (CHANGELOG.md's section of the version, scripts/release_notes.py) go to --notes, outside dist/,
so that dist/ is exactly what is uploaded.

Reproducible: the zips have fixed timestamps and order (package_lambda.py); the wheel is built from a copy of the
sources with modes 0644 and SOURCE_DATE_EPOCH (default 315532800, 1980-01-01, the zips' date), so two builds of the
same sources with the same pins and the same compiling Pythons give the same bytes.
Before building, the version is checked: --tag must be vVERSION, CHANGELOG.md must have a non-empty section for it,
and every pinned module source (`?ref=vX.Y.Z`) in the docs must name it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import package_lambda as pl
import release_notes

REPO_ROOT = pl.REPO_ROOT
DEFAULT_DIST = REPO_ROOT / "dist"
DEFAULT_NOTES = REPO_ROOT / "build" / "release-notes.md"
MANIFEST = "release-manifest.json"
SUMS = "SHA256SUMS"
DEFAULT_EPOCH = "315532800"  # 1980-01-01 00:00:00 UTC: the Lambda zips' entry date, the earliest a zip can carry
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE")
WHEEL_PACKAGES = ("gate", "cli", "emulator", "bench", "chaos")  # pyproject.toml's packages.find include
# What a release writes into dist/ (and so may remove from it before the next one).
OWN_FILES = re.compile(r"^(gate-lambda-.+\.zip|asg_termination_gate-.+\.whl|release-manifest\.json|SHA256SUMS)$")
# The docs that may pin the module to a release: every such pin must be the current version.
PIN = re.compile(r"\?ref=v(\d+\.\d+\.\d+)\b")
PINNING_DOCS = ("README.md", "CHANGELOG.md", "docs/*.md", "examples/**/*.md", "infra/**/*.md", "infra/**/*.tf")


class ReleaseError(RuntimeError):
    pass


# -- what is released ----------------------------------------------------------------------------------------------


def supported_targets() -> list[pl.Target]:
    """Every runtime x architecture the module's `lambda` object accepts (tests/unit/test_release.py checks the
    lists against infra/modules/termination-gate/modules/core/variables.tf)."""
    return [pl.Target(version, arch) for version in pl.RUNTIMES for arch in sorted(pl.PLATFORMS)]


def target_of(text: str) -> pl.Target:
    """python3.12-arm64 -> Target("3.12", "arm64")."""
    runtime, _, arch = text.partition("-")
    try:
        return pl.Target(pl.parse_runtime(runtime), arch)
    except pl.PackageError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc} (expected RUNTIME-ARCH, e.g. python3.12-arm64)") from exc


def zip_name(version: str, target: pl.Target) -> str:
    """The module checks a released zip's name against lambda.runtime and lambda.architecture (variables.tf)."""
    return f"gate-lambda-{version}-{target.runtime}-{target.arch}.zip"


def check_version(version: str, tag: str | None, root: Path = REPO_ROOT) -> str:
    """The release notes of `version`; ReleaseError when the tag, the changelog or a pinned doc disagrees."""
    if tag is not None and release_notes.version_of_tag(tag) != version:
        raise ReleaseError(f"tag {tag} does not match gate/__init__.py's __version__ {version}: expected v{version}")
    notes = release_notes.extract((root / "CHANGELOG.md").read_text(), version)
    stale = [f"{path}: ref=v{found}" for path, found in version_pins(root) if found != version]
    if stale:
        raise ReleaseError(f"pinned to another version than v{version}:\n  " + "\n  ".join(stale))
    return notes


def version_pins(root: Path = REPO_ROOT) -> Iterator[tuple[str, str]]:
    """(file, X.Y.Z) for every `?ref=vX.Y.Z` in the docs and Terraform files."""
    seen: set[Path] = set()
    for pattern in PINNING_DOCS:
        for path in sorted(root.glob(pattern)):
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            for match in PIN.finditer(path.read_text()):
                yield path.relative_to(root).as_posix(), match.group(1)


# -- bytecode: a CPython of each runtime's version -----------------------------------------------------------------


def _interpreters(version: str) -> Iterator[str]:
    """Where a CPython x.y may be: this interpreter, python3.x on PATH (setup-python puts each one there), pyenv's
    installed versions (newest patch first; its shims run only the selected one), the usual prefixes."""
    yield sys.executable
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield on_path
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"

    def patch(path: Path) -> int:
        tail = path.name.removeprefix(f"{version}.")
        return int(tail) if tail.isdigit() else -1

    for directory in sorted(pyenv.glob(f"{version}.*"), key=patch, reverse=True):
        yield str(directory / "bin" / f"python{version}")
    for prefix in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin"):
        yield f"{prefix}/python{version}"


def find_compiler(target: pl.Target, explicit: dict[str, str]) -> pl.Compiler | None:
    """The CPython that compiles `target`'s bytecode: --compile-python's for its version (which must work), else
    the first working one of _interpreters, else None."""
    if target.python_version in explicit:
        return pl.find_compiler(target, explicit[target.python_version])
    for python in _interpreters(target.python_version):
        if python != sys.executable and not Path(python).is_file():
            continue
        found = pl.python_version_of(python)
        if found is not None and found[0] == "cpython" and found[1].rsplit(".", 1)[0] == target.python_version:
            return pl.Compiler(python, found[1])
    return None


# -- the artifacts --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    file: str
    sha256: str
    size: int
    facts: dict[str, object]


def build_zip(
    dist: Path, version: str, target: pl.Target, compiler: pl.Compiler | None, source: Path = REPO_ROOT
) -> Artifact:
    result = pl.build(
        dist / zip_name(version, target),
        source,
        for_lambda=target,
        bytecode=compiler is not None,
        compile_python=compiler.python if compiler else None,
    )
    if compiler is not None:
        bytecode: dict[str, object] | None = {
            "compiled_by": f"CPython {compiler.version}",
            "pyc_files": result.pyc_files,
        }
        note = f"bytecode compiled by CPython {compiler.version} ({result.pyc_files} .pyc)"
    else:
        bytecode = None
        note = (
            f"NO bytecode: no CPython {target.python_version} on the build machine; every cold start compiles the "
            f"modules from source (slower, otherwise the same)"
        )
    facts: dict[str, object] = {
        "runtime": target.runtime,
        "architecture": target.arch,
        "requirements": result.requirements,
        # The module's source_code_hash for this zip taken from S3 (base64 of the sha256; Terraform has no hex decode).
        "source_code_hash": base64.b64encode(bytes.fromhex(result.sha256)).decode(),
        "bytecode": bytecode,
        "note": note,
    }
    return Artifact(result.path.name, result.sha256, result.size, facts)


def _copy_sources(source: Path, target: Path) -> None:
    """The wheel's inputs only, every file 0644: setuptools writes build/ and *.egg-info beside its input, and a
    stale build/lib (a module deleted since) would ship; file modes would otherwise follow the umask."""
    for name in WHEEL_SOURCES:
        shutil.copyfile(source / name, target / name)
    for package in WHEEL_PACKAGES:
        shutil.copytree(source / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_wheel(dist: Path, source: Path = REPO_ROOT) -> Artifact:
    env = dict(os.environ)
    env.setdefault("SOURCE_DATE_EPOCH", DEFAULT_EPOCH)
    with tempfile.TemporaryDirectory(prefix="gate-wheel-") as tmp:
        copy, out = Path(tmp) / "source", Path(tmp) / "out"
        copy.mkdir()
        _copy_sources(source, copy)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check"]
        proc = subprocess.run([*cmd, str(copy), "-w", str(out)], capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise ReleaseError(f"building the wheel failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        [built] = out.glob("*.whl")
        wheel = dist / built.name
        shutil.copyfile(built, wheel)
    with zipfile.ZipFile(wheel) as zf:
        [meta] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        extras = Parser().parsestr(zf.read(meta).decode()).get_all("Provides-Extra") or []
    facts: dict[str, object] = {"command": "gate", "extras": sorted(extras), "note": "pip install FILE[emulator]"}
    return Artifact(wheel.name, pl.sha256_of(wheel), wheel.stat().st_size, facts)


def prepare_dist(dist: Path) -> None:
    """An empty dist/: files an earlier release wrote are removed; anything else is refused (never deleted)."""
    dist.mkdir(parents=True, exist_ok=True)
    foreign = sorted(p.name for p in dist.iterdir() if not (p.is_file() and OWN_FILES.match(p.name)))
    if foreign:
        raise ReleaseError(f"{dist} holds files a release did not write ({', '.join(foreign)}): move them away")
    for path in dist.iterdir():
        path.unlink()


def write_manifest(dist: Path, version: str, tag: str, artifacts: list[Artifact]) -> None:
    manifest = {
        "name": "asg-termination-gate",
        "version": version,
        "tag": tag,
        "files": [{"file": a.file, "sha256": a.sha256, "size": a.size, **a.facts} for a in artifacts],
    }
    (dist / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def write_sums(dist: Path) -> None:
    """`sha256sum -c SHA256SUMS` format (two spaces: text mode, which is binary-safe on every platform it runs)."""
    lines = [f"{pl.sha256_of(p)}  {p.name}\n" for p in sorted(dist.iterdir()) if p.name != SUMS]
    (dist / SUMS).write_text("".join(lines))


def release(
    dist: Path,
    notes_path: Path,
    *,
    tag: str | None = None,
    targets: list[pl.Target] | None = None,
    compile_python: dict[str, str] | None = None,
    require_bytecode: bool = False,
    wheel: bool = True,
    source: Path = REPO_ROOT,
) -> list[Artifact]:
    """source: the checkout to release (its gate/, the wheel's packages, CHANGELOG.md and docs)."""
    version = release_notes.read_version(source / "gate" / "__init__.py")
    notes = check_version(version, tag, source)
    chosen = targets or supported_targets()
    compilers = {t: find_compiler(t, compile_python or {}) for t in chosen}
    missing = sorted({t.python_version for t, c in compilers.items() if c is None})
    if missing and require_bytecode:
        raise ReleaseError(
            f"--require-bytecode: no CPython {', '.join(missing)} found (PATH, pyenv, /usr/bin, /usr/local/bin): "
            f"install it or pass --compile-python X.Y=/path/to/pythonX.Y"
        )
    prepare_dist(dist)
    artifacts: list[Artifact] = []
    for target in chosen:
        artifact = build_zip(dist, version, target, compilers[target], source)
        print(f"release: {artifact.file}: {artifact.facts['note']}", flush=True)
        artifacts.append(artifact)
    if wheel:
        built = build_wheel(dist, source)
        print(f"release: {built.file}: the CLI (`gate`); extras {built.facts['extras']}")
        artifacts.append(built)
    write_manifest(dist, version, tag or f"v{version}", artifacts)
    write_sums(dist)
    notes_path.parent.mkdir(parents=True, exist_ok=True)
    notes_path.write_text(notes)
    return artifacts


def _compile_python(value: str) -> tuple[str, str]:
    version, sep, path = value.partition("=")
    if not sep or version.removeprefix("python") not in pl.RUNTIMES:
        raise argparse.ArgumentTypeError(f"{value}: expected X.Y=/path/to/pythonX.Y with X.Y in {pl.RUNTIMES}")
    return version.removeprefix("python"), path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="the tag being released, vX.Y.Z: must be v + gate/__init__.py's __version__")
    parser.add_argument("--dist", type=Path, default=DEFAULT_DIST, help="output directory (default: %(default)s)")
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES, help="release notes file (default: %(default)s)")
    parser.add_argument(
        "--targets", nargs="+", type=target_of, metavar="RUNTIME-ARCH", help="only these (default: every supported)"
    )
    parser.add_argument(
        "--compile-python", action="append", type=_compile_python, default=[], metavar="X.Y=PATH",
        help="the CPython that compiles runtime pythonX.Y's bytecode (default: found on PATH, pyenv, /usr/bin)",
    )  # fmt: skip
    parser.add_argument(
        "--require-bytecode", action="store_true", help="fail unless every zip ships bytecode (a CPython per runtime)"
    )
    parser.add_argument("--no-wheel", action="store_true", help="the Lambda zips only")
    parser.add_argument(
        "--source-dir", type=Path, default=REPO_ROOT, help="the checkout to release (default: this repository)"
    )
    args = parser.parse_args(argv)
    try:
        artifacts = release(
            args.dist.resolve(),
            args.notes.resolve(),
            tag=args.tag,
            targets=args.targets,
            compile_python=dict(args.compile_python),
            require_bytecode=args.require_bytecode,
            wheel=not args.no_wheel,
            source=args.source_dir.resolve(),
        )
    except (ReleaseError, release_notes.NotesError, pl.PackageError) as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    without = [a.file for a in artifacts if a.facts.get("bytecode", True) is None]
    print(
        f"release: wrote {len(artifacts) + 2} files to {args.dist} (check them: cd {args.dist} && sha256sum -c {SUMS})"
    )
    if without:
        print(
            f"release: {len(without)} zip(s) ship NO bytecode (no CPython of their runtime here): {', '.join(without)}"
        )
    print(f"release: notes in {args.notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
