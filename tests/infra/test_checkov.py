"""checkov over infra/, offline (--skip-download), with the committed .checkov.yaml.

checkov cannot follow module outputs, so it never sees the policy JSON built in modules/core: its IAM checks
would pass vacuously. The fixture renders the policies (terraform apply on a provider-free root calling core,
for a default and an everything-on configuration) into literal aws_iam_role_policy resources that checkov scans
in the same run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import CORE, INFRA, REPO_ROOT, Tool, copy_tree

CONFIG = REPO_ROOT / ".checkov.yaml"

# checkov's IAM policy checks that must have run (and passed) on the rendered policies.
IAM_CHECKS = {
    "CKV_AWS_62",  # no "*:*" admin
    "CKV_AWS_63",  # no "*" action
    "CKV_AWS_286",  # privilege escalation
    "CKV_AWS_287",  # credentials exposure
    "CKV_AWS_288",  # data exfiltration
    "CKV_AWS_289",  # permissions management / resource exposure without constraints
    "CKV_AWS_290",  # write access without constraints
    "CKV_AWS_355",  # "*" resource on restrictable actions
}

RENDER_ROOT = """
module "default" {{
  source                  = "{core}"
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["agents-a", "agents-b"]
  azure_devops = {{
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux"]
    pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat"
  }}
}}

module "everything" {{
  source                  = "{core}"
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["agents-a", "agents-b"]
  kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ac"
  azure_devops = {{
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux"]
    pat_secret_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/ado/pat"
  }}
  agents = {{
    secret_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }}
  ecs          = {{ cluster_name = "agents", drain = true }}
  hold         = {{ protect_busy = true }}
  service_hook = {{ enabled = true, secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook" }}
}}

output "policies" {{
  value = {{
    default    = module.default.policy_json
    everything   = module.everything.policy_json
    service_hook = module.everything.service_hook_policy_json
    trust        = module.default.assume_role_policy_json
  }}
}}
"""


def _rendered_tf(policies: dict[str, str]) -> str:
    out = [
        "# Rendered by tests/infra/test_checkov.py from modules/core: what the Lambda role really gets.",
        'resource "aws_iam_role" "rendered" {',
        '  name               = "rendered"',
        f"  assume_role_policy = <<JSON\n{json.dumps(json.loads(policies['trust']), indent=2)}\nJSON",
        "}",
    ]
    for name in ("default", "everything", "service_hook"):
        out += [
            f'resource "aws_iam_role_policy" "{name}" {{',
            f'  name   = "{name}"',
            "  role   = aws_iam_role.rendered.id",
            f"  policy = <<JSON\n{json.dumps(json.loads(policies[name]), indent=2)}\nJSON",
            "}",
        ]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def scan_dir(terraform: Tool, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of infra/ plus rendered/rendered_iam.tf: one directory, one checkov report."""
    root = tmp_path_factory.mktemp("render")
    (root / "main.tf").write_text(RENDER_ROOT.format(core=CORE.as_posix()))
    for args in (["init", "-no-color", "-input=false"], ["apply", "-no-color", "-input=false", "-auto-approve"]):
        result = terraform.run(args, cwd=root)
        assert result.returncode == 0, result.output
    result = terraform.run(["output", "-no-color", "-json", "policies"], cwd=root)
    assert result.returncode == 0, result.output
    scan = root / "scan"
    copy_tree(INFRA, scan / "infra")
    (scan / "rendered").mkdir()
    (scan / "rendered" / "rendered_iam.tf").write_text(_rendered_tf(json.loads(result.stdout)))
    return scan


def _checkov_json(checkov: Tool, scan: Path, args: list[str]) -> dict[str, Any]:
    # cwd = the scan dir: checkov would otherwise pick up the repository's .checkov.yaml implicitly.
    result = checkov.run(
        ["--skip-download", "--framework", "terraform", "-o", "json", "-d", ".", *args], cwd=scan, timeout=300
    )
    # checkov exits 1 when a check fails; anything else (2 = error) is a broken run.
    assert result.returncode in (0, 1), result.output
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one report per framework
        (report,) = [r for r in report if r.get("check_type") == "terraform"]
    assert report["summary"]["parsing_errors"] == 0, result.output
    return report


def _skips_with_reasons() -> dict[str, str]:
    """`- CKV_ID` entries of skip-check, each with the `# CKV_ID: reason` comment block right above it."""
    skips: dict[str, str] = {}
    comment: list[str] = []
    in_skips = False
    for line in CONFIG.read_text().splitlines():
        stripped = line.strip()
        if not line.startswith(" ") and stripped:
            in_skips = stripped.startswith("skip-check:")
            comment = []
            continue
        if not in_skips:
            continue
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif stripped.startswith("- "):
            check_id = stripped[2:].strip()
            text = " ".join(comment)
            match = re.match(rf"{re.escape(check_id)}: (.+)", text)
            skips[check_id] = match.group(1) if match else ""
            comment = []
    return skips


def test_every_skip_has_a_reason() -> None:
    skips = _skips_with_reasons()
    assert skips, ".checkov.yaml has no skip-check list"
    for check_id, reason in skips.items():
        assert re.fullmatch(r"CKV2?_[A-Z]+_\d+", check_id), check_id
        assert len(reason) >= 40, f"{check_id}: skip without a real reason ('# {check_id}: why' above it)"


@pytest.fixture(scope="module")
def unskipped_report(checkov: Tool, scan_dir: Path) -> dict[str, Any]:
    """One scan without the config's skips: shows exactly what the skips hide."""
    return _checkov_json(checkov, scan_dir, [])


def test_checkov_passes_with_committed_config(checkov: Tool, scan_dir: Path) -> None:
    report = _checkov_json(checkov, scan_dir, ["--config-file", str(CONFIG)])
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov findings (fix them, or skip with a reason in .checkov.yaml):\n" + "\n".join(failed)
    assert report["summary"]["passed"] >= 30, report["summary"]


def test_skips_hide_only_what_they_name_and_none_is_stale(unskipped_report: dict[str, Any]) -> None:
    failing = {c["check_id"] for c in unskipped_report["results"]["failed_checks"]}
    skips = set(_skips_with_reasons())
    assert failing <= skips, f"failing checks without a skip: {sorted(failing - skips)}"
    assert skips <= failing, f"stale skips in .checkov.yaml (nothing fails them any more): {sorted(skips - failing)}"


def test_iam_checks_ran_on_the_rendered_policies(unskipped_report: dict[str, Any]) -> None:
    seen: dict[str, set[str]] = {}
    for check in unskipped_report["results"]["passed_checks"]:
        if check["resource"].startswith("aws_iam_role_policy."):
            seen.setdefault(check["resource"], set()).add(check["check_id"])
    for resource in (
        "aws_iam_role_policy.default",
        "aws_iam_role_policy.everything",
        "aws_iam_role_policy.service_hook",
    ):
        assert seen.get(resource, set()) >= IAM_CHECKS, (resource, sorted(IAM_CHECKS - seen.get(resource, set())))
    failed_iam = [c for c in unskipped_report["results"]["failed_checks"] if c["resource"].startswith("aws_iam")]
    assert not failed_iam, failed_iam
