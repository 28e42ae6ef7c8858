"""Every gate setting the Lambda needs is exposed by the Terraform module, under its exact GATE_* name."""

from __future__ import annotations

from gate.settings import Settings
from tests.infra.conftest import CORE
from tests.infra.test_hcl import load_dir

# Secrets in plain environment variables: for local use only.
LOCAL_ONLY = {"GATE_PAT", "GATE_GITHUB_TOKEN", "GATE_GITLAB_TOKEN", "GATE_SERVICE_HOOK_SECRET"}
# Set only on the optional service hook receiver (servicehook.tf merges it into the core environment).
RECEIVER_ONLY = {"GATE_SERVICE_HOOK_SECRET_ARN"}


def test_every_setting_is_in_the_lambda_environment() -> None:
    names = {f"GATE_{name.upper()}" for name in Settings.model_fields}
    environment = set(load_dir(CORE)["locals"]["environment"])
    expected = names - LOCAL_ONLY - RECEIVER_ONLY
    assert expected == environment, (sorted(expected - environment), sorted(environment - expected))


def test_the_service_hook_receiver_gets_its_secret_arn() -> None:
    """The receiver's own environment (the core's service_hook output) carries the secret's ARN; the gate's does not
    (the tick's role no longer reads the hook secret, issue 19)."""
    outputs = (CORE / "outputs.tf").read_text()
    assert "GATE_SERVICE_HOOK_SECRET_ARN = local.service_hook_secret_arn" in outputs
    assert "GATE_SERVICE_HOOK_SECRET_ARN" not in load_dir(CORE)["locals"]["environment"]


# The fleet settings' module defaults: tests/infra/test_settings_ranges.py applies the core and compares every GATE_*
# default with the Python one (one source of truth, issue 23), which replaces the per-variable list kept here before.
