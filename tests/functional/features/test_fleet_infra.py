"""Every gate setting the Lambda needs is exposed by the Terraform module, under its exact GATE_* name."""

from __future__ import annotations

from gate.settings import Settings
from tests.infra.conftest import CORE, MODULE
from tests.infra.test_hcl import load_dir

# Secrets in plain environment variables: for local use only.
LOCAL_ONLY = {"GATE_PAT", "GATE_GITHUB_TOKEN", "GATE_SERVICE_HOOK_SECRET"}
# Set only on the optional service hook receiver (servicehook.tf merges it into the core environment).
RECEIVER_ONLY = {"GATE_SERVICE_HOOK_SECRET_ARN"}


def test_every_setting_is_in_the_lambda_environment() -> None:
    names = {f"GATE_{name.upper()}" for name in Settings.model_fields}
    environment = set(load_dir(CORE)["locals"]["environment"])
    expected = names - LOCAL_ONLY - RECEIVER_ONLY
    assert expected == environment, (sorted(expected - environment), sorted(environment - expected))


def test_the_service_hook_receiver_gets_its_secret_arn() -> None:
    text = (MODULE / "servicehook.tf").read_text()
    assert "merge(module.core.environment, { GATE_SERVICE_HOOK_SECRET_ARN = var.service_hook_secret_arn })" in text


def test_fleet_variables_are_module_inputs_with_safe_defaults() -> None:
    variables = load_dir(MODULE)["variable"]
    defaults = {
        "agent_system": "azure-devops",
        "protect_busy": False,
        "ecs_cluster_name": "",
        "ecs_drain": False,
        "ecs_wait_tasks": False,
        "ecs_ignore_task_groups": [],
        "webhook_url": "",
        "webhook_format": "slack",
        "webhook_timeout_seconds": 3,
        "hold_notify_seconds": 3600,
        "github_api_url": "https://api.github.com",
        "github_org": "",
        "github_repos": [],
        "github_token_secret_arn": "",
        "check_job_requests": True,
        "http_timeout_seconds": 10,
        "max_retry_after_seconds": 20,
        "handle_spot_interruptions": False,
    }
    assert {name: variables[name]["default"] for name in defaults} == defaults
    assert variables["webhook_url"]["sensitive"] is True
