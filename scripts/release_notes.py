#!/usr/bin/env python3
"""Release notes for one version: its section of CHANGELOG.md, so the notes and the changelog never disagree.

    python scripts/release_notes.py [VERSION | vX.Y.Z | Unreleased] [--changelog CHANGELOG.md] [--output FILE]

VERSION defaults to gate/__init__.py's __version__ (the one version source). The section is everything under
`## [VERSION]` (a date after it is allowed: `## [0.2.0] - 2027-01-15`) up to the next `## ` heading or the link
definitions at the end; its `### Added`/`### Changed` headings stay. Fails (exit 1, one line) when the changelog
has no such section or the section is empty: a release without notes is a mistake, not a default.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = REPO_ROOT / "CHANGELOG.md"
VERSION_FILE = REPO_ROOT / "gate" / "__init__.py"

# The tag convention: vMAJOR.MINOR.PATCH of gate/__init__.py's __version__, nothing before or after.
TAG_PATTERN = re.compile(r"^v(\d+\.\d+\.\d+)$")
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
_HEADING = re.compile(r"^## \[([^\]]+)\]")
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s")


class NotesError(ValueError):
    pass


def read_version(path: Path = VERSION_FILE) -> str:
    """__version__ from gate/__init__.py, read as text: the release tools must not import the gate (or its deps)."""
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', path.read_text(), re.M)
    if match is None or not VERSION_PATTERN.match(match.group(1)):
        raise NotesError(f'{path}: no __version__ = "X.Y.Z"')
    return match.group(1)


def version_of_tag(tag: str) -> str:
    """vX.Y.Z -> X.Y.Z; anything else breaks the convention."""
    match = TAG_PATTERN.match(tag)
    if match is None:
        raise NotesError(f"tag {tag!r} does not follow the convention vX.Y.Z (e.g. v0.2.0)")
    return match.group(1)


def extract(changelog: str, version: str) -> str:
    """The body of `## [version]`, without its heading and surrounding blank lines."""
    lines = changelog.splitlines()
    start = next((i for i, line in enumerate(lines) if (m := _HEADING.match(line)) and m.group(1) == version), None)
    if start is None:
        raise NotesError(f"CHANGELOG.md has no section '## [{version}]'")
    body: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("## ") or _LINK_DEFINITION.match(line):
            break
        body.append(line)
    text = "\n".join(body).strip("\n")
    if not text.strip():
        raise NotesError(f"CHANGELOG.md's section '## [{version}]' is empty")
    return text + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help="X.Y.Z, vX.Y.Z or Unreleased (default: gate.__version__)")
    parser.add_argument("--changelog", type=Path, default=CHANGELOG)
    parser.add_argument("--output", type=Path, help="write the notes here instead of stdout")
    args = parser.parse_args(argv)
    try:
        version = args.version or read_version()
        if version.startswith("v"):
            version = version_of_tag(version)
        notes = extract(args.changelog.read_text(), version)
    except (NotesError, OSError) as exc:
        print(f"release_notes: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(notes)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
