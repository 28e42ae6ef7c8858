"""The publishing workflow (.github/workflows/release.yml), checked offline: it runs on exactly the tags of the
convention, builds with `make release` for that tag, and attaches dist/* (nothing else) with the CHANGELOG's notes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_release import _load

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
TAGS = ["v0.1.0", "v1.20.300", "v10.0.0", "0.1.0", "v0.1", "v0.1.0-rc1", "v0.1.0.1", "vX.Y.Z", "latest", "v1.2.3/x"]


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def _filter_regex(pattern: str) -> re.Pattern[str]:
    """A GitHub Actions filter pattern as a regex: * any run without /, + and ? quantify, [..] a class."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
            continue
        out += {"*": "[^/]*", "+": "+", "?": "?"}.get(c, re.escape(c))
        i += 1
    return re.compile(out)


def test_it_runs_on_the_convention_tags_only(workflow: dict[Any, Any]) -> None:
    notes = _load("release_notes")
    on: dict[str, Any] = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: a bare `on` is true
    assert set(on) == {"push"} and set(on["push"]) == {"tags"}
    patterns = [_filter_regex(p) for p in on["push"]["tags"]]
    for tag in TAGS:
        triggered = any(p.fullmatch(tag) for p in patterns)
        assert triggered == bool(notes.TAG_PATTERN.match(tag)), tag


def test_it_builds_with_make_release_for_the_pushed_tag(workflow: dict[Any, Any]) -> None:
    runs = [step.get("run", "") for step in _steps(workflow)]
    [build] = [i for i, run in enumerate(runs) if run.startswith("make release")]
    words = shlex.split(runs[build])
    assert 'RELEASE_TAG="${GITHUB_REF_NAME}"' in runs[build] and "RELEASE_ARGS=--require-bytecode" in words
    [publish] = [i for i, run in enumerate(runs) if run.startswith("gh release create")]
    assert build < publish
    [python] = [s for s in _steps(workflow) if s.get("uses", "").startswith("actions/setup-python@")]
    versions = set(python["with"]["python-version"].split())
    assert {t.python_version for t in _load("release").supported_targets()} <= versions  # bytecode for each


def test_it_uploads_exactly_dist_with_the_changelog_notes(workflow: dict[Any, Any]) -> None:
    release = _load("release")
    [run] = [s["run"] for s in _steps(workflow) if s.get("run", "").startswith("gh release create")]
    words = shlex.split(run)
    assert words[:4] == ["gh", "release", "create", "${GITHUB_REF_NAME}"]
    takes_value = {"--title", "--notes-file"}
    files: list[str] = []
    options: dict[str, str] = {}
    i = 4
    while i < len(words):
        if words[i] in takes_value:
            options[words[i]], i = words[i + 1], i + 2
        elif words[i].startswith("-"):
            options[words[i]], i = "", i + 1
        else:
            files, i = [*files, words[i]], i + 1
    assert files == ["dist/*"]
    assert set(options) == {"--verify-tag", "--title", "--notes-file"}  # no --generate-notes, no draft
    assert ROOT / options["--notes-file"] == release.DEFAULT_NOTES
    assert release.DEFAULT_DIST == ROOT / "dist"
    assert workflow["permissions"] == {"contents": "write"}
