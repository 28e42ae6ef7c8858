"""The first-deployment guide (docs/deployment.md) and the README's first screen name only what exists.

A new user follows the guide without opening the code, so every `gate` command and option, every `GATE_*` setting,
every module input and attribute, every module output and every link it names must be real. Pure: reads files and the
CLI's definition, starts nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.conftest import MODULE, REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "deployment.md"
README = REPO_ROOT / "README.md"
FILE_SUFFIXES = {"md", "tf", "py", "json", "png", "zip", "yaml", "hcl", "sh"}


def _module_inputs() -> dict[str, set[str]]:
    """Every input of the module, with the attributes of the object-typed ones."""
    inputs: dict[str, set[str]] = {}
    text = (MODULE / "variables.tf").read_text()
    for block in re.split(r'(?m)^variable "', text)[1:]:
        name = block.split('"', 1)[0]
        inputs[name] = set(re.findall(r"(?m)^\s+(\w+)\s+=\s+optional\(", block))
    return inputs


def _module_outputs() -> set[str]:
    return {m for f in MODULE.glob("*.tf") for m in re.findall(r'(?m)^output "(\w+)"', f.read_text())}


def _cli() -> dict[str, set[str]]:
    """`gate` subcommands and the long options of each."""
    import typer.main

    from cli.main import app

    group = typer.main.get_command(app)
    commands: dict[str, set[str]] = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        options = {opt for p in command.params for opt in getattr(p, "opts", []) if opt.startswith("--")}
        commands[name] = options | {"--help"}
    return commands


def _settings_variables() -> set[str]:
    from gate.settings import Settings

    return {f"GATE_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text()


def test_every_gate_command_and_option_the_guide_runs_exists(guide: str) -> None:
    commands = _cli()
    runs = re.findall(r"(?m)(?:^|`|\s)gate ([a-z]+)((?: [^`\n#|]*)?)", guide)
    assert runs, "the guide runs no gate command"
    for command, rest in runs:
        if command not in commands:
            continue  # prose such as "the gate decides": only a known command's options are checked below
        for option in re.findall(r"(--[a-z][a-z-]*)", rest):
            assert option in commands[command], f"gate {command} has no option {option}"
    named = {c for c, _ in runs} & set(commands)
    assert {"doctor", "status", "check", "outcomes"} <= named


def test_every_setting_the_guide_and_readme_name_exists(guide: str) -> None:
    known = _settings_variables()
    first_screen = README.read_text().split("## Try it by hand", 1)[0]
    for text in (guide, first_screen):
        for name in set(re.findall(r"GATE_[A-Z_]+[A-Z]", text)):
            assert name in known, f"{name} is not a gate setting"


def test_every_module_input_and_attribute_the_guide_names_exists(guide: str) -> None:
    inputs = _module_inputs()
    for obj, attr in re.findall(r"(?<![\w/.-])([a-z_]+)\.([a-z_]+)\b", guide):
        if inputs.get(obj) and attr not in FILE_SUFFIXES:  # gitlab.md is a page, not gitlab.md as an input
            assert attr in inputs[obj], f"module input {obj} has no attribute {attr}"
    for obj, body in re.findall(r"\b([a-z_]+) = \{ ([^}`]*)\}", guide):
        assert obj in inputs, f"no module input {obj}"
        for attr in re.findall(r"\b([a-z_]+) =", body):
            assert attr in inputs[obj], f"module input {obj} has no attribute {attr}"
    for name in ("autoscaling_group_names", "lambda_zip_path", "s3_bucket", "s3_key", "s3_object_version"):
        assert name in guide and name in inputs


def test_every_output_the_guide_reads_exists(guide: str) -> None:
    outputs = _module_outputs()
    read = set(re.findall(r"terraform output (\w+)", guide)) | set(
        re.findall(r"module\.termination_gate\.(\w+)", guide)
    )
    assert read
    assert read <= outputs, read - outputs


def test_every_link_stays_in_the_repository_and_resolves(guide: str) -> None:
    for source, text in ((GUIDE, guide), (README, README.read_text())):
        for target in re.findall(r"\]\(([^)]+)\)", text):
            assert not re.match(r"[a-z]+://", target), f"{source.name} links outside the repository: {target}"
            path = target.split("#", 1)[0]
            if path:
                assert (source.parent / path).exists(), f"{source.name}: {target} does not exist"


def test_the_guide_is_numbered_and_keeps_how_it_is_tested(guide: str) -> None:
    steps = [int(n) for n in re.findall(r"(?m)^## (\d+)\. ", guide)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 10
    for topic in ("dry run", "service hook", "Rotate", "uninstall", "follow one instance"):
        assert re.search(rf"(?im)^## \d+\. .*{topic}", guide), topic
    assert "## How the deployment is tested" in guide
    assert "tests/e2e/deployed/test_deployed_module.py" in guide


def test_the_readme_first_screen_has_the_commands_the_comparison_and_the_lifecycle() -> None:
    lines = README.read_text().splitlines()
    screen = "\n".join(lines[:70])
    assert "make demo" in "\n".join(lines[:20]) and "make test" in "\n".join(lines[:20])
    for approach in ("scale-in protection", "Azure VMSS agent pools", "Managed DevOps Pools", "drain-on-signal"):
        assert approach in screen, approach
    assert "```mermaid" in screen and "stateDiagram" in screen
    for state in ("InService", "Terminating:Wait", "Terminating:Retained"):
        assert f"| `{state}`" in screen, state  # the table that reads as text where mermaid is not drawn


def test_the_guide_names_only_real_paths(guide: str) -> None:
    for path in set(re.findall(r"`((?:gate|infra|examples|scripts|tests|emulator)/[\w./-]+)`", guide)):
        assert (REPO_ROOT / path.rstrip("/")).exists(), path
    assert Path(REPO_ROOT / "gate" / "adapters" / "secrets.py").read_text().count("PAT_KEYS = (") == 1
    from gate.adapters.secrets import PAT_KEYS

    for key in PAT_KEYS:
        assert f"`{key}`" in guide, f"the guide does not list the PAT secret key {key}"
