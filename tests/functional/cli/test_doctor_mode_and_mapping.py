"""`gate doctor` says whether the gate acts or only plans, and warns about instances whose agents it cannot find.

A first deployment's likeliest mistakes pass every other check: a gate left in dry run (GATE_DRY_RUN) looks the same
to doctor as a live one, and agents not named after their instance (docs/deployment.md, step 1) only show when a
victim is held for want of agents. Over HTTP: the AWS emulator and the fake Azure DevOps, `gate doctor` through the
CLI.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from emulator.sandbox import PAT
from tests.functional.cli.conftest import gate
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


def test_doctor_function_tells_a_dry_run_from_a_live_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's GATE_DRY_RUN, not this shell's: before and after going live, doctor's output differs."""
    for world in make_world(size=2):
        doctor(world, monkeypatch)  # the shell's AWS settings (its GATE_* are replaced by the function's)
        monkeypatch.setenv("GATE_DRY_RUN", "false")  # the shell says live: the function's setting wins
        iam, lam = world.sb.client("iam"), world.sb.client("lambda")
        role = iam.create_role(
            RoleName="gate-mode-test", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("handler.py", "def handle(event, context):\n    return {}\n")
        settings = {
            "GATE_AZURE_ORG_URL": world.sb.azure_url,
            "GATE_PAT": PAT,
            "GATE_POOLS": world.group.pool,
            "GATE_GROUPS": world.group.name,
            "GATE_HOOK_NAME": world.group.hook,
        }
        lam.create_function(
            FunctionName="gate-mode",
            Runtime="python3.12",
            Role=role,
            Handler="handler.handle",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": {**settings, "GATE_DRY_RUN": "true"}},
        )
        planning = gate("doctor", "--function", "gate-mode", width=400)
        assert planning.exit_code == 0, planning.stdout
        assert _lines(planning.stdout, "ok  GATE_DRY_RUN=true: the gate only plans"), planning.stdout
        lam.update_function_configuration(FunctionName="gate-mode", Environment={"Variables": settings})
        live = gate("doctor", "--function", "gate-mode", width=400)
        assert live.exit_code == 0, live.stdout
        assert _lines(live.stdout, "ok  GATE_DRY_RUN=false: the gate acts"), live.stdout
        assert live.stdout.rstrip().endswith("all checks passed; the gate acts"), live.stdout
