"""The module takes a released zip as it is (issue 20): a file named gate-lambda-VERSION-RUNTIME-ARCH.zip, no build
step and no Python on the deploying machine; its hash is what redeploys the function, and the same file under
another architecture is refused at plan.

The zip is the session's package (tests/support/package.py), named as a release names it; `terraform test` runs
on a copy of the module with a mocked AWS provider, which needs the provider binary from a local mirror (else skip).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import MODULE, Tool, copy_tree, mirror_cli_env

HERE = f"python{sys.version_info.major}.{sys.version_info.minor}"

TEST = """
{mock}

variables {{
  name                    = "gate"
  autoscaling_group_names = ["agents"]
  azure_devops = {{
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux"]
    pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
  }}
  lambda_zip_path = "{zip}"
}}

run "a_released_zip_file_as_it_is" {{
  command = plan

  variables {{
    lambda = {{ runtime = "{runtime}", architecture = "x86_64" }}
  }}

  assert {{
    condition = (
      module.gate_function.function.filename == "{zip}" &&
      module.gate_function.function.source_code_hash == "{hash}" &&
      module.gate_function.function.runtime == "{runtime}" &&
      module.gate_function.function.architectures == tolist(["x86_64"])
    )
    error_message = "The released file is deployed as it is, its hash redeploying the function."
  }}
}}

run "the_same_file_for_arm64_is_refused" {{
  command = plan

  variables {{
    lambda = {{ runtime = "{runtime}", architecture = "arm64" }}
  }}

  expect_failures = [var.lambda_zip_path]
}}
"""


@pytest.mark.network  # the session's zip: pip fetches its dependencies
@pytest.mark.timeout(900)
def test_the_module_deploys_a_released_zip_file_and_refuses_it_for_another_architecture(
    terraform: Tool, lambda_zip: Path, tmp_path: Path
) -> None:
    env = mirror_cli_env(tmp_path)
    from gate import __version__

    module = copy_tree(MODULE, tmp_path / "termination-gate")
    shutil.rmtree(module / "tests")  # only this test's runs
    name = f"gate-lambda-{__version__}-{HERE}-x86_64.zip"
    shutil.copyfile(lambda_zip, module / name)
    digest = base64.b64encode(hashlib.sha256(lambda_zip.read_bytes()).digest()).decode()
    suite = (MODULE / "tests" / "module.tftest.hcl").read_text()
    mock = re.search(r'^mock_provider "aws" \{\n.*?^\}\n', suite, re.M | re.S)
    assert mock, "module.tftest.hcl's mocked provider"
    (module / "tests").mkdir()
    (module / "tests" / "released.tftest.hcl").write_text(
        TEST.format(mock=mock.group(0), zip=name, hash=digest, runtime=HERE)
    )

    result = terraform.run(["init", "-no-color", "-input=false", "-backend=false"], cwd=module, env=env)
    assert result.returncode == 0, result.output
    result = terraform.run(["test", "-no-color"], cwd=module, env=env, timeout=300)
    assert result.returncode == 0, result.output
    assert "Success! 2 passed, 0 failed" in result.stdout, result.output
