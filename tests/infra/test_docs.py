"""Docs that must not drift: the module README's generated tables, the version, the license and the changelog."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from tests.infra.conftest import MODULE, REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "terraform_docs.py"


def test_module_readme_inputs_and_outputs_match_variables_and_outputs() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", str(MODULE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"README tables are stale: run python scripts/terraform_docs.py\n{proc.stdout}"


def test_generated_tables_list_every_variable_and_output() -> None:
    readme = (MODULE / "README.md").read_text()
    block = readme.split("<!-- BEGIN_TF_DOCS -->")[1].split("<!-- END_TF_DOCS -->")[0]
    tf = "".join(p.read_text() for p in MODULE.glob("*.tf"))
    variables = re.findall(r'^variable "([^"]+)"', tf, re.M)
    outputs = re.findall(r'^output "([^"]+)"', tf, re.M)
    assert len(variables) > 25 and len(outputs) > 15
    for name in variables + outputs:
        assert f"| `{name}` |" in block, name
    assert "| `autoscaling_group_names` | " in block and block.count("| yes |") >= 1  # required inputs are marked


def test_one_version_source_shown_by_the_cli_and_read_by_pyproject() -> None:
    from gate import __version__

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gate.__version__"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--version"], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"asg-termination-gate {__version__}", proc.stderr
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in changelog and "## [Unreleased]" in changelog
    assert re.search(r"git::https://\S+//infra/modules/termination-gate\?ref=v\d+\.\d+\.\d+", changelog)


def test_license_matches_pyproject() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert pyproject["project"]["license"] in ("Apache-2.0", {"text": "Apache-2.0"})
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in license_text


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (backticks, colons, dots...), spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    """Every anchor a page has: its headings' (a repeated heading gets -1, -2...) and explicit <a id/name>."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in re.sub(r"(?ms)^```.*?^```", "", text).splitlines():
        heading = re.match(r"^#{1,6} (.+?)\s*#*$", line)
        if heading:
            slug = _slug(heading.group(1))
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
        found.update(re.findall(r'<a (?:name|id)="([^"]+)"', line))
    return found


def test_every_anchor_link_between_the_docs_resolves() -> None:
    """A renamed heading breaks every `page.md#its-anchor` that pointed at it (docs/judgment.md linked a heading that
    had been reworded): every intra-repository link with an anchor, from the README, docs/ and the infra and
    examples READMEs, names a heading (or <a id>) of its target page."""
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    pages += sorted((REPO_ROOT / "infra").glob("**/README.md")) + sorted((REPO_ROOT / "examples").glob("**/README.md"))
    checked, broken = 0, []
    for page in pages:
        text = re.sub(r"(?ms)^```.*?^```", "", page.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path, _, anchor = target.partition("#")
            if not anchor or re.match(r"[a-z]+://", target):
                continue
            dest = (page.parent / path).resolve() if path else page
            if dest.suffix != ".md" or not dest.exists():
                continue  # a missing file is test_deployment_guide's finding
            checked += 1
            if anchor not in _anchors(dest.read_text()):
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}")
    assert checked > 10, checked
    assert not broken, "links to headings that do not exist:\n" + "\n".join(broken)
