"""One source of truth for the gate's settings (issue 23): Terraform accepts exactly what gate/settings.py accepts.

The ranges and choices are written once, in `gate.settings.Settings`; modules/core reads them from settings.json,
which tests/infra/settings_json.py generates from Settings. These tests prove, in order: the committed file is the
generated one; every bounded setting the core hands to the Lambda is in it, at the input that sets it; Terraform
itself (a `terraform test` generated from the file) accepts each range's edges and refuses the values just outside
and every value outside the choices; and the defaults Terraform passes are Settings' defaults, which are Policy's.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from gate.domain.decide import Policy
from gate.settings import Settings
from tests.infra.conftest import CORE, Tool, copy_tree
from tests.infra.settings_json import SETTINGS_JSON, TERRAFORM, choices, numeric_range, render
from tests.infra.test_hcl import load_dir

REFERENCE = re.compile(r"^\$\{(?:tostring\()?var\.(\w+)(?:\.(\w+))?\)?\}$")


def test_settings_json_is_generated_from_settings() -> None:
    assert SETTINGS_JSON.read_text() == render(), "stale: run python -m tests.infra.settings_json"


def core_environment() -> dict[str, tuple[str, str]]:
    """GATE_* name -> (core input, attribute) for every environment entry that is one input's value."""
    found: dict[str, tuple[str, str]] = {}
    for env, expression in load_dir(CORE)["locals"]["environment"].items():
        match = REFERENCE.match(str(expression))
        if match:
            group, attribute = match.groups()
            found[env] = ("variables", group) if attribute is None else (group, attribute)
    return found


def test_every_bounded_setting_the_core_passes_is_limited_by_settings_json() -> None:
    environment = core_environment()
    assert len(environment) >= 35
    limited = {(group, attribute): name for (group, attribute), name in TERRAFORM.items()}
    for env, where in environment.items():
        name = env.removeprefix("GATE_").lower()
        assert name in Settings.model_fields, env
        if numeric_range(name) or choices(name):
            assert limited.get(where) == name, f"{env} comes from {where}: add it to TERRAFORM in settings_json.py"
    for where, name in limited.items():
        assert environment.get(f"GATE_{name.upper()}") == where, (where, name)


def test_policy_defaults_are_the_settings_defaults() -> None:
    shared = [f for f in dataclasses.fields(Policy) if f.name in Settings.model_fields]
    assert len(shared) >= 10
    for f in shared:
        assert Settings.model_fields[f.name].default == f.default, f.name


# --- Terraform evaluates the file ------------------------------------------------------------------------------

ROOT = """
module "core" {{
  source                  = "{core}"
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["agents-a"]
  azure_devops = {{
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux"]
    pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat"
  }}
}}

output "environment" {{
  value     = module.core.environment
  sensitive = true
}}
"""
SET_BY_THE_ROOT = {"GATE_AZURE_ORG_URL", "GATE_POOLS", "GATE_PAT_SECRET_ARN", "GATE_GROUPS"}


def _as_environment(value: Any) -> str:
    """A Settings default as Terraform writes it into the Lambda environment."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, tuple):  # a JSON list setting (GATE_TIERS)
        return json.dumps(list(value), separators=(",", ":"))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(getattr(value, "value", value))


def test_terraform_defaults_are_the_settings_defaults(terraform: Tool, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(ROOT.format(core=CORE.as_posix()))
    for args in (["init", "-no-color", "-input=false"], ["apply", "-no-color", "-input=false", "-auto-approve"]):
        result = terraform.run(args, cwd=tmp_path)
        assert result.returncode == 0, result.output
    result = terraform.run(["output", "-no-color", "-json", "environment"], cwd=tmp_path)
    assert result.returncode == 0, result.output
    environment: dict[str, str] = json.loads(result.stdout)
    compared = 0
    for env, value in sorted(environment.items()):
        name = env.removeprefix("GATE_").lower()
        default = Settings.model_fields[name].default
        if env in SET_BY_THE_ROOT or default is PydanticUndefined:
            continue
        assert value == _as_environment(default), f"{env}: Terraform passes {value!r}, Settings' default is {default!r}"
        compared += 1
    assert compared >= 35


def _hcl(value: Any) -> str:
    return json.dumps(value)


def _run(name: str, inputs: dict[str, dict[str, Any]], expect_failure: str | None) -> str:
    lines = [f'run "{name}" {{', "  command = plan", "  variables {"]
    for group, attributes in inputs.items():
        if group == "variables":
            lines += [f"    {k} = {_hcl(v)}" for k, v in attributes.items()]
            continue
        lines.append(f"    {group} = {{")
        lines += [f"      {k} = {_hcl(v)}" for k, v in attributes.items()]
        lines.append("    }")
    lines.append("  }")
    if expect_failure:
        lines.append(f"  expect_failures = [var.{expect_failure}]")
    lines.append("}")
    return "\n".join(lines)


# Room around every edge: the cross-input rules (max hold within the global timeout, heartbeat interval within
# the heartbeat timeout, tick budget within the Lambda timeout) must not be what refuses a value.
BASELINE: dict[str, dict[str, Any]] = {
    "hook": {"heartbeat_timeout_seconds": 7200},
    "lambda": {"timeout_seconds": 900},
    "tick": {"budget_seconds": 840},
    "azure_devops": {
        "org_url": "https://dev.azure.com/contoso",
        "pools": ["linux"],
        "pat_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat",
        "entra_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/entra",
    },
    "github": {"org": "acme", "token_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh/token"},
    "gitlab": {"token_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gl/token"},
}


def _with(group: str, attribute: str, value: Any) -> dict[str, dict[str, Any]]:
    inputs = {g: dict(a) for g, a in BASELINE.items()}
    inputs.setdefault(group, {})[attribute] = value
    return inputs


def edge_runs() -> list[str]:
    document = json.loads(SETTINGS_JSON.read_text())
    runs = []
    for group, attributes in document["ranges"].items():
        for attribute, r in attributes.items():
            low = r["min"] if r["min_inclusive"] else r["min"] + (1 if r["whole"] else 0.01)
            high = r["max"] if r["max_inclusive"] else r["max"] - (1 if r["whole"] else 0.01)
            below = r["min"] - (1 if r["whole"] else 0.01) if r["min_inclusive"] else r["min"]
            above = r["max"] + (1 if r["whole"] else 0.01) if r["max_inclusive"] else r["max"]
            tag = f"{group}_{attribute}"
            runs.append(_run(f"{tag}_lowest", _with(group, attribute, low), None))
            runs.append(_run(f"{tag}_highest", _with(group, attribute, high), None))
            runs.append(_run(f"{tag}_below", _with(group, attribute, below), group))
            runs.append(_run(f"{tag}_above", _with(group, attribute, above), group))
            if r["whole"]:
                runs.append(_run(f"{tag}_not_whole", _with(group, attribute, low + 0.5), group))
    for group, attributes in document["choices"].items():
        for attribute, c in attributes.items():
            for i, value in enumerate(c["values"]):
                runs.append(_run(f"{group}_{attribute}_{i}", _with(group, attribute, value), None))
            refused = attribute if group == "variables" else group
            runs.append(_run(f"{group}_{attribute}_other", _with(group, attribute, "not-a-choice"), refused))
    return runs


def test_terraform_enforces_exactly_the_settings_limits(terraform: Tool, tmp_path: Path) -> None:
    core = copy_tree(CORE, tmp_path / "core")
    for old in (core / "tests").glob("*.tftest.hcl"):
        old.unlink()
    runs = edge_runs()
    header = """variables {
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["agents-a"]
}
"""
    (core / "tests" / "limits.tftest.hcl").write_text(header + "\n" + "\n\n".join(runs) + "\n")
    result = terraform.run(["init", "-no-color", "-input=false"], cwd=core)
    assert result.returncode == 0, result.output
    result = terraform.run(["test", "-no-color"], cwd=core, timeout=300)
    assert result.returncode == 0, result.output
    assert f"Success! {len(runs)} passed, 0 failed" in result.stdout, result.output
    assert len(runs) >= 60


@pytest.mark.parametrize("name", ["unregistered_grace_seconds", "idle_confirm_seconds"])
def test_the_ranges_that_used_to_differ_are_the_gates(name: str) -> None:
    """v0.1 refused unregistered grace over 3600 s and idle confirmation over 600 s in Terraform only."""
    ranges = json.loads(SETTINGS_JSON.read_text())["ranges"]["hold"]
    expected = {"unregistered_grace_seconds": 86_400, "idle_confirm_seconds": 3600}[name]
    bounds = numeric_range(name)
    assert bounds is not None and ranges[name]["max"] == bounds["max"] == expected
