"""Fixtures for the Terraform checks: the tools installed by scripts/install_infra_tools.sh (`make infra-tools`).

A missing tool skips its tests with the reason, except under CI (env CI set), where it fails them: a CI run that
silently skipped the infrastructure checks would pass while checking nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
MODULE = INFRA / "modules" / "termination-gate"
CORE = MODULE / "modules" / "core"
EXAMPLES = INFRA / "examples"
EXAMPLE = EXAMPLES / "complete"  # ECS capacity provider, fail-safe posture
EXAMPLE_NAMES = ("simple", "complete", "github-runners")
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass(frozen=True)
class Tool:
    path: Path

    def run(self, args: Sequence[str], cwd: Path, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
        full_env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", **(env or {})}
        proc = subprocess.run(
            [str(self.path), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


def _tool(name: str) -> Tool:
    path = TOOLS_BIN / name
    if path.is_file() and os.access(path, os.X_OK):
        return Tool(path)
    reason = f".tools/bin/{name} is missing: run `make infra-tools` (bash scripts/install_infra_tools.sh)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}. Under CI the infrastructure checks must run, not skip.")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def terraform() -> Tool:
    return _tool("terraform")


@pytest.fixture(scope="session")
def checkov() -> Tool:
    return _tool("checkov")


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a module so init/test leave no .terraform/ or state in the work tree."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    return dst


@pytest.fixture(scope="module")
def core_copy(terraform: Tool, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised copy of the provider-free core module (init needs no provider: offline)."""
    work = copy_tree(CORE, tmp_path_factory.mktemp("core") / "core")
    result = terraform.run(["init", "-no-color", "-input=false"], cwd=work)
    assert result.returncode == 0, result.output
    return work


# --- the hashicorp/aws provider from a local filesystem mirror ------------------------------------------------

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"


def provider_mirror() -> Path | None:
    """A filesystem mirror holding hashicorp/aws for linux_amd64: $TF_AWS_PROVIDER_MIRROR or /opt/tf-plugins."""
    for candidate in (os.environ.get("TF_AWS_PROVIDER_MIRROR", ""), "/opt/tf-plugins"):
        if candidate and any((Path(candidate) / AWS_PROVIDER).glob("*/linux_amd64/terraform-provider-aws*")):
            return Path(candidate)
    return None


NO_MIRROR = (
    "no local filesystem mirror of hashicorp/aws (set TF_AWS_PROVIDER_MIRROR): init/validate/apply of the whole "
    "module need the provider binary, which no reachable registry serves"
)


def mirror_cli_env(base: Path) -> dict[str, str]:
    """Environment for terraform with a CLI config that installs hashicorp/aws from the mirror only (else: skip)."""
    mirror = provider_mirror()
    if mirror is None:
        pytest.skip(NO_MIRROR)
    rc = base / "terraformrc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{AWS_PROVIDER}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{AWS_PROVIDER}"]\n  }}\n'
        "}\n"
    )
    return {"TF_CLI_CONFIG_FILE": str(rc)}
