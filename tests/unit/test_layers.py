"""The layers you can see in the folders hold (issue 23): the domain imports nothing outside itself (no settings, no
boto3, no HTTP), boto3 and botocore are imported only by the adapters, and the gate package has no import cycle
(runtime imports, module-level or inside functions; `if TYPE_CHECKING:` blocks left out)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "gate"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports at run time (TYPE_CHECKING blocks are not run)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from gate import logs`
    return found


MODULES = {_module(p): _imports(p) for p in sorted(GATE.rglob("*.py"))}


def _gate_deps(module: str) -> set[str]:
    return {m for m in MODULES[module] if m in MODULES and m != module}


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("gate.domain")])
def test_the_domain_imports_only_the_domain(module: str) -> None:
    outside = {m for m in MODULES[module] if m.split(".")[0] == "gate" and not m.startswith("gate.domain")}
    third = {m for m in MODULES[module] if m.split(".")[0] in ("boto3", "botocore", "requests", "msal", "urllib3")}
    assert not outside and not third, f"{module} imports {sorted(outside | third)}"


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith("gate.adapters")])
def test_only_the_adapters_import_boto3(module: str) -> None:
    aws = {m for m in MODULES[module] if m.split(".")[0] in ("boto3", "botocore")}
    assert not aws, f"{module} imports {sorted(aws)}: only gate/adapters talks to AWS"


def test_the_service_layer_does_not_import_http_clients() -> None:
    for module, imports in MODULES.items():
        if module.startswith("gate.service"):
            assert not {m for m in imports if m.split(".")[0] in ("requests", "msal", "urllib3")}, module


def test_the_service_layer_reaches_aws_through_its_ports() -> None:
    """Each consumer declares the calls it makes as a Protocol (HeartbeatEdge, RoundEdge, GateEdge...); the AWS adapter
    implements them, and an in-memory world (bench/memory_aws.py) can stand in without subclassing the client."""
    for module, imports in MODULES.items():
        if module.startswith("gate.service"):
            assert not {m for m in imports if m.startswith("gate.adapters.aws")}, module


def test_no_import_cycle_in_the_gate_package() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(_gate_deps(module)):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)
