"""The idle-first termination policy in Terraform (infra/modules/termination-gate/selection.tf), statically: off unless
`selection.enabled`; the gate's code and role with its own handler and Auto Scaling's 2 s; invoked by the Auto
Scaling service-linked role(s) only; an output a group can name first without a dependency cycle; the complete
example opts in."""

from __future__ import annotations

from tests.infra.conftest import EXAMPLE, MODULE
from tests.infra.test_hcl import FUNCTION, first, load_dir, optional_defaults, resources


def test_the_function_is_off_by_default_and_shares_the_gates_code_and_role() -> None:
    assert optional_defaults(MODULE, "selection") == {"enabled": False, "invoker_role_arns": [], "concurrency": None}
    assert load_dir(MODULE)["locals"]["selection"] == "${var.selection.enabled ? 1 : 0}"
    calls = load_dir(MODULE)["module"]
    fn, gate = calls["selection_function"], calls["gate_function"]
    assert fn["source"] == gate["source"] == "./modules/function"
    assert fn["count"] == "${local.selection}"
    assert fn["handler"] == "gate.handler.select_instances"
    assert fn["timeout"] == 2  # Auto Scaling waits two seconds for a custom termination policy
    assert fn["reserved_concurrent_executions"] == "${var.selection.concurrency}"
    for key in ("role", "common", "environment"):  # the gate's code (runtime, architecture, zip), role and settings
        assert fn[key] == gate[key], key
    assert fn["environment"] == "${module.core.environment}"
    # its lines go to the gate's log group, the only one the shared role may write to
    assert fn["log_group"] == {"name": "${module.gate_function.log_group_name}", "create": False}
    dynamic = load_dir(FUNCTION)["resource"]["aws_lambda_function"]["this"]["dynamic"]
    [logging] = [block["logging_config"] for block in dynamic if "logging_config" in block]
    assert logging["for_each"] == "${var.log_group.create ? [] : [1]}"
    assert first(logging, "content")["log_group"] == "${var.log_group.name}"


def test_only_the_auto_scaling_service_linked_role_may_invoke_it() -> None:
    permission = resources("aws_lambda_permission")["selection"]
    assert permission["for_each"] == "${local.selection_invokers}"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "${each.value}"
    assert permission["function_name"] == "${module.selection_function[0].function_name}"
    invokers = load_dir(MODULE)["locals"]["selection_invokers"]
    assert "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling" in invokers
    assert "var.selection.invoker_role_arns" in invokers
    validations = load_dir(MODULE)["variable"]["selection"]["validation"]
    assert any("AWSServiceRoleForAutoScaling" in v["condition"] for v in validations)


def test_the_output_is_built_from_names_so_a_gated_group_can_name_it() -> None:
    output = load_dir(MODULE)["output"]["termination_policy_arn"]
    assert output["value"] == '${var.selection.enabled ? "${module.core.function_arn}-selection" : null}'
    # the function's name is the same one: <gate function>-selection
    assert load_dir(MODULE)["locals"]["selection_function"] == "${module.core.names.function}-selection"
    assert "aws_lambda_function" not in output["value"] and "autoscaling" not in output["value"]


def test_the_complete_example_opts_in_with_the_policy_first() -> None:
    example = load_dir(EXAMPLE)
    group = example["resource"]["aws_autoscaling_group"]["agents"]
    assert group["termination_policies"] == ["${module.termination_gate.termination_policy_arn}", "Default"]
    assert example["module"]["termination_gate"]["selection"] == {"enabled": True}
