"""`gate doctor` says whether the gate acts or only plans, and warns about instances whose agents it cannot find.

A first deployment's likeliest mistakes pass every other check: a gate left in dry run (GATE_DRY_RUN) looks the same
to doctor as a live one, and agents not named after their instance (docs/deployment.md, step 1) only show when a
victim is held for want of agents. Over HTTP: the AWS emulator and the fake Azure DevOps, `gate doctor` through the
CLI.
"""

from __future__ import annotations

import pytest

from tests.functional.liveness.conftest import make_world
from tests.functional.safety.conftest import doctor


def _lines(stdout: str, start: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(start)]


def test_doctor_names_the_mode_and_finds_every_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    for world in make_world(size=3):
        live = doctor(world, monkeypatch)
        assert live.exit_code == 0, live.stdout
        assert _lines(live.stdout, "ok  GATE_DRY_RUN=false: the gate acts"), live.stdout
        assert _lines(live.stdout, "ok  GATE_MAPPING=name: every in-service instance of ci-agents (3) has an agent")
        assert not _lines(live.stdout, "warn"), live.stdout
        assert live.stdout.rstrip().endswith("all checks passed; the gate acts"), live.stdout

        planning = doctor(world, monkeypatch, dry_run="true")
        assert planning.exit_code == 0, planning.stdout
        assert _lines(planning.stdout, "ok  GATE_DRY_RUN=true: the gate only plans"), planning.stdout
        assert "all checks passed; dry run (GATE_DRY_RUN=true): the gate only plans" in planning.stdout


def test_doctor_warns_about_instances_the_mapping_finds_no_agent_for(monkeypatch: pytest.MonkeyPatch) -> None:
    for world in make_world(size=3):
        # The agents report AWS_INSTANCE_ID: a mapping on another capability finds none of them.
        result = doctor(world, monkeypatch, mapping="capability", capability_name="EC2_INSTANCE_ID")
        assert result.exit_code == 0, result.stdout  # a warning, not a failure
        [warning] = _lines(result.stdout, "warn")
        assert "GATE_MAPPING=capability: 3 of 3 in-service instances of ci-agents have no agent" in warning
        for iid in world.group.instances:
            assert iid in warning, warning
        assert "docs/deployment.md, step 1" in warning
        assert "all checks passed, 1 warning(s) above (warn)" in result.stdout, result.stdout


def test_an_empty_group_is_not_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    for world in make_world(size=0):
        result = doctor(world, monkeypatch)
        assert result.exit_code == 0, result.stdout
        assert _lines(result.stdout, "ok  group ci-agents has no instance in service: mapping not checked")
        assert not _lines(result.stdout, "warn"), result.stdout
