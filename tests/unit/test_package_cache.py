"""scripts/package_lambda.py's dependency cache: one pip install per (pins, target), shared by concurrent builds."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "package_lambda.py"


@pytest.fixture(scope="module")
def pkg() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_lambda_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def _installer(calls: list[Path]) -> Callable[[Path], None]:
    def install(into: Path) -> None:
        calls.append(into)
        into.mkdir(parents=True)
        (into / "pydantic").mkdir()
        (into / "pydantic" / "__init__.py").write_text("VERSION = '2'\n")

    return install


def test_a_second_build_of_the_same_pins_and_target_installs_nothing(pkg: ModuleType, tmp_path: Path) -> None:
    calls: list[Path] = []
    target = pkg.Target("3.12", "x86_64")
    first = pkg.cached_dependencies(tmp_path, ["pydantic==2.0"], [], target, _installer(calls))
    second = pkg.cached_dependencies(tmp_path, ["pydantic==2.0"], [], target, _installer(calls))
    assert first == second and len(calls) == 1
    assert (first / "pydantic" / "__init__.py").read_text() == "VERSION = '2'\n"
    assert [p.name for p in tmp_path.iterdir()] == [first.parent.name]  # no private directory left behind


def test_other_pins_or_another_target_install_again(pkg: ModuleType, tmp_path: Path) -> None:
    calls: list[Path] = []
    a = pkg.cached_dependencies(tmp_path, ["pydantic==2.0"], [], pkg.Target("3.12", "x86_64"), _installer(calls))
    b = pkg.cached_dependencies(tmp_path, ["pydantic==2.1"], [], pkg.Target("3.12", "x86_64"), _installer(calls))
    c = pkg.cached_dependencies(tmp_path, ["pydantic==2.0"], [], pkg.Target("3.12", "arm64"), _installer(calls))
    assert len({a, b, c}) == 3 and len(calls) == 3


def test_a_build_that_lost_the_race_uses_the_winners_copy(pkg: ModuleType, tmp_path: Path) -> None:
    target = pkg.Target("3.12", "x86_64")
    winner: list[Path] = []
    done = pkg.cached_dependencies(tmp_path, ["x==1"], [], target, _installer(winner))

    done.parent.rename(tmp_path / "aside")  # as if this build started before the winner renamed
    late: list[Path] = []

    def racing(into: Path) -> None:
        _installer([])(into)
        (tmp_path / "aside").rename(done.parent)  # the winner renames first
        late.append(into)

    again = pkg.cached_dependencies(tmp_path, ["x==1"], [], target, racing)
    assert again == done and late and not late[0].exists()  # the loser's private copy is gone


def test_a_failed_install_leaves_no_entry(pkg: ModuleType, tmp_path: Path) -> None:
    def failing(into: Path) -> None:
        into.mkdir(parents=True)
        raise pkg.PackageError("pip install failed (1)")

    with pytest.raises(pkg.PackageError):
        pkg.cached_dependencies(tmp_path, ["x==1"], [], pkg.Target("3.12", "x86_64"), failing)
    assert list(tmp_path.iterdir()) == []
