"""The release's rules without building anything (issue 20): one version source that every pin agrees with, the tag
convention, notes cut from the CHANGELOG, the supported targets and zip names the Terraform module accepts, and a
dist/ that is emptied of old release files but never of anyone else's."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
MODULE = ROOT / "infra" / "modules" / "termination-gate"

SAMPLE = """# Changelog

Intro text.

## [Unreleased]

### Added
- Something new.

## [0.2.0] - 2027-01-15

### Added
- Releases.

### Changed
- The module takes objects.

## [0.1.0]

### Added
- The gate.

[0.2.0]: https://example.invalid/compare/v0.1.0...v0.2.0
[0.1.0]: https://example.invalid/releases/tag/v0.1.0
"""


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(SCRIPTS))  # release.py imports its siblings by name, as when run as a script
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def notes() -> ModuleType:
    return _load("release_notes")


@pytest.fixture(scope="module")
def release() -> ModuleType:
    return _load("release")


# -- release notes ---------------------------------------------------------------------------------------------------


def test_notes_are_the_versions_section_without_its_heading(notes: ModuleType) -> None:
    assert notes.extract(SAMPLE, "0.2.0") == "### Added\n- Releases.\n\n### Changed\n- The module takes objects.\n"
    assert notes.extract(SAMPLE, "0.1.0") == "### Added\n- The gate.\n"  # the link definitions are not notes
    assert notes.extract(SAMPLE, "Unreleased") == "### Added\n- Something new.\n"


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        (SAMPLE, "0.3.0", r"no section '## \[0.3.0\]'"),
        (SAMPLE, "0.2", r"no section '## \[0.2\]'"),  # no prefix match: [0.2] is not [0.2.0]
        ("## [0.3.0]\n\n## [0.2.0]\n- x\n", "0.3.0", r"'## \[0.3.0\]' is empty"),
    ],
)
def test_no_notes_is_an_error(notes: ModuleType, text: str, version: str, message: str) -> None:
    with pytest.raises(notes.NotesError, match=message):
        notes.extract(text, version)


def test_the_notes_command_takes_a_tag_and_writes_a_file(notes: ModuleType, tmp_path: Path) -> None:
    changelog, out = tmp_path / "CHANGELOG.md", tmp_path / "out" / "notes.md"
    changelog.write_text(SAMPLE)
    assert notes.main(["v0.2.0", "--changelog", str(changelog), "--output", str(out)]) == 0
    assert out.read_text() == notes.extract(SAMPLE, "0.2.0")
    assert notes.main(["v0.2", "--changelog", str(changelog)]) == 1


@pytest.mark.parametrize("tag", ["v0.1.0", "v1.20.300"])
def test_the_tag_convention_accepts(notes: ModuleType, tag: str) -> None:
    assert notes.version_of_tag(tag) == tag[1:]


@pytest.mark.parametrize("tag", ["0.1.0", "v0.1", "v0.1.0-rc1", "V0.1.0", "vX.Y.Z", "release-0.1.0", "v0.1.0 "])
def test_the_tag_convention_refuses(notes: ModuleType, tag: str) -> None:
    with pytest.raises(notes.NotesError, match=r"vX\.Y\.Z"):
        notes.version_of_tag(tag)


# -- one version, everywhere -----------------------------------------------------------------------------------------


def test_every_version_mention_agrees_with_the_one_source(notes: ModuleType, release: ModuleType) -> None:
    from gate import __version__

    assert notes.read_version() == __version__
    pins = list(release.version_pins(ROOT))
    assert ("CHANGELOG.md", __version__) in pins, pins  # the CHANGELOG's example pin
    assert {version for _, version in pins} == {__version__}, pins
    assert release.check_version(__version__, f"v{__version__}").strip()  # the version has notes
    with pytest.raises(release.ReleaseError, match=f"expected v{re.escape(__version__)}"):
        release.check_version(__version__, "v99.0.0")


def test_a_stale_pin_stops_the_release(release: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "CHANGELOG.md").write_text(SAMPLE)
    (tmp_path / "docs" / "x.md").write_text(
        'source = "git::https://h/r.git//infra/modules/termination-gate?ref=v0.1.0"'
    )
    with pytest.raises(release.ReleaseError, match=r"docs/x.md: ref=v0\.1\.0"):
        release.check_version("0.2.0", "v0.2.0", tmp_path)
    assert release.check_version("0.1.0", None, tmp_path) == "### Added\n- The gate.\n"


# -- what is released, and what the module accepts ------------------------------------------------------------------


def _allowed(attribute: str) -> set[str]:
    """The values modules/core allows for lambda.<attribute>."""
    text = (MODULE / "modules" / "core" / "variables.tf").read_text()
    match = re.search(rf"contains\(\[([^\]]*)\], var\.lambda\.{attribute}\)", text)
    assert match, attribute
    return set(re.findall(r'"([^"]+)"', match.group(1)))


def test_a_zip_for_every_runtime_and_architecture_the_module_accepts(release: ModuleType) -> None:
    targets = release.supported_targets()
    assert {t.runtime for t in targets} == _allowed("runtime")
    assert {t.arch for t in targets} == _allowed("architecture")
    assert len(targets) == len(_allowed("runtime")) * len(_allowed("architecture"))


def test_the_module_recognises_the_released_zip_names(release: ModuleType) -> None:
    """variables.tf refuses a released zip (by path or S3 key) built for another runtime or architecture: its
    pattern must recognise every name the release writes, and only the name's runtime and architecture match."""
    text = (MODULE / "variables.tf").read_text()
    patterns = re.findall(r'regex\("(gate-lambda-[^"]+)", var\.(lambda_zip_path|s3_key)\)', text)
    assert {variable for _, variable in patterns} == {"lambda_zip_path", "s3_key"}
    for hcl, _ in patterns:
        pattern = re.compile(hcl.replace("\\\\", "\\"))
        for target in release.supported_targets():
            name = release.zip_name("1.2.3", target)
            assert pattern.search(f"dist/{name}") and pattern.search(f"releases/v1.2.3/{name}"), name
            assert name.endswith(f"-{target.runtime}-{target.arch}.zip")
        assert not pattern.search("build/gate-lambda.zip")  # make package's default name: not checked
    assert 'endswith(var.lambda_zip_path, "-${var.lambda.runtime}-${var.lambda.architecture}.zip")' in text
    assert 'endswith(var.s3_key, "-${var.lambda.runtime}-${var.lambda.architecture}.zip")' in text


@pytest.mark.parametrize("text", ["python3.12-arm64", "3.13-x86_64"])
def test_targets_are_named_runtime_dash_architecture(release: ModuleType, text: str) -> None:
    target = release.target_of(text)
    assert f"{target.python_version}-{target.arch}" == text.removeprefix("python")


@pytest.mark.parametrize("text", ["python3.10-x86_64", "python3.12-amd64", "python3.12"])
def test_unsupported_targets_are_refused(release: ModuleType, text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="RUNTIME-ARCH"):
        release.target_of(text)


def test_dist_is_emptied_of_release_files_only(release: ModuleType, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    own = ["gate-lambda-0.1.0-python3.12-x86_64.zip", "asg_termination_gate-0.1.0-py3-none-any.whl", "SHA256SUMS"]
    for name in [*own, "release-manifest.json"]:
        (dist / name).write_text("old")
    release.prepare_dist(dist)
    assert list(dist.iterdir()) == []
    for name in [*own, "my-notes.txt"]:
        (dist / name).write_text("keep")
    with pytest.raises(release.ReleaseError, match=r"my-notes\.txt"):
        release.prepare_dist(dist)
    assert sorted(p.name for p in dist.iterdir()) == sorted([*own, "my-notes.txt"])  # nothing deleted


def test_sums_cover_every_other_file_in_sha256sum_format(release: ModuleType, tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "b.zip").write_bytes(b"bbb")
    (tmp_path / "a.whl").write_bytes(b"aaa")
    release.write_sums(tmp_path)
    release.write_sums(tmp_path)  # rewriting does not checksum the old SHA256SUMS
    expected = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in [("a.whl", b"aaa"), ("b.zip", b"bbb")])
    assert (tmp_path / "SHA256SUMS").read_text() == expected
