#!/usr/bin/env python3
"""Write a Terraform module's inputs and outputs as Markdown tables into its README, between markers.

    python scripts/terraform_docs.py [MODULE_DIR ...]           # rewrite the tables in MODULE_DIR/README.md
    python scripts/terraform_docs.py --check [MODULE_DIR ...]   # exit 1 (and show a diff) when they are stale

Default module: infra/modules/termination-gate. The tables are generated from the module's *.tf files with
python-hcl2 (variables.tf/outputs.tf first, then the other files, each in file order) and replace everything
between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`; the rest of the README is left alone.
tests/infra/test_docs.py runs --check, so the README never drifts from variables.tf/outputs.tf. (terraform-docs,
the usual tool, is a Go binary that no package registry reachable from here ships; this covers the two tables it
would generate.)
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODULE = REPO_ROOT / "infra" / "modules" / "termination-gate"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


def _blocks(module: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    main_file = module / ("variables.tf" if kind == "variable" else "outputs.tf")
    for path in sorted(module.glob("*.tf"), key=lambda p: (p != main_file, p.name)):  # variables.tf first
        with path.open() as f:
            doc = hcl2.load(f, serialization_options=OPTIONS)
        for block in doc.get(kind, []):
            found.extend(block.items())
    return found


def _expression(value: str) -> str:
    """hcl2 keeps expressions as "${...}": show them as Terraform writes them."""
    match = re.fullmatch(r"\$\{(.*)\}", value, re.S)
    return match.group(1) if match else value


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(var: dict[str, Any]) -> str:
    if "default" not in var:
        return "n/a"
    value = var["default"]
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{_expression(value)}`" if value.startswith("${") else f'`"{value}"`'
    return f"`{json.dumps(value)}`"


def inputs_table(module: Path) -> str:
    rows = ["| Name | Description | Type | Default | Required |", "| --- | --- | --- | --- | :---: |"]
    for name, var in _blocks(module, "variable"):
        description = _cell(var.get("description", ""))
        type_ = _cell(_expression(str(var.get("type", "any"))))
        required = "no" if "default" in var else "yes"
        rows.append(f"| `{name}` | {description} | `{type_}` | {_cell(_default(var))} | {required} |")
    return "\n".join(rows)


def outputs_table(module: Path) -> str:
    rows = ["| Name | Description |", "| --- | --- |"]
    for name, out in _blocks(module, "output"):
        sensitive = " (sensitive)" if out.get("sensitive") is True else ""
        rows.append(f"| `{name}` | {_cell(out.get('description', ''))}{sensitive} |")
    return "\n".join(rows)


def render(module: Path) -> str:
    return f"{BEGIN}\n## Inputs\n\n{inputs_table(module)}\n\n## Outputs\n\n{outputs_table(module)}\n{END}"


def updated_readme(module: Path) -> tuple[str, str]:
    """(current README, README with fresh tables)."""
    readme = (module / "README.md").read_text()
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise SystemExit(f"{module / 'README.md'}: needs exactly one {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return readme, head + render(module) + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", type=Path, default=[DEFAULT_MODULE])
    parser.add_argument("--check", action="store_true", help="fail (exit 1) when a README's tables are stale")
    args = parser.parse_args(argv)
    stale = 0
    for module in args.modules:
        current, fresh = updated_readme(module)
        if current == fresh:
            continue
        if args.check:
            stale += 1
            diff = difflib.unified_diff(
                current.splitlines(), fresh.splitlines(), f"{module}/README.md", "generated", lineterm=""
            )
            print("\n".join(diff))
        else:
            (module / "README.md").write_text(fresh)
            print(f"terraform_docs: updated {module / 'README.md'}")
    if stale:
        print(f"terraform_docs: {stale} README(s) stale: run python scripts/terraform_docs.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
