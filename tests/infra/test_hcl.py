"""Static checks of the Terraform source with python-hcl2 (expressions are not evaluated: references are strings)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.infra.conftest import CORE, EXAMPLE, EXAMPLE_NAMES, EXAMPLES, MODULE

FUNCTION = MODULE / "modules" / "function"

OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
READ_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|List|Get)[A-Za-z]*$")


@cache
def load_dir(directory: Path) -> dict[str, Any]:
    """All *.tf of a directory merged: resources as {type: {name: body}}, locals/variables/outputs flat."""
    merged: dict[str, Any] = {
        "resource": {},
        "data": {},
        "locals": {},
        "variable": {},
        "output": {},
        "module": {},
        "terraform": [],
        "provider": [],
    }
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f, serialization_options=OPTIONS)
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        assert name not in merged[kind].setdefault(rtype, {}), f"duplicate {rtype}.{name}"
                        merged[kind][rtype][name] = body
        for block in doc.get("locals", []):
            merged["locals"].update(block)
        for kind in ("variable", "output", "module"):
            for block in doc.get(kind, []):
                merged[kind].update(block)
        merged["terraform"] += doc.get("terraform", [])
        merged["provider"] += doc.get("provider", [])
    return merged


def resources(rtype: str) -> dict[str, Any]:
    return load_dir(MODULE)["resource"].get(rtype, {})


def _split_top(text: str) -> list[str]:
    """Split at the commas outside parentheses, brackets and braces."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return parts + ([current.strip()] if current.strip() else [])


def optional_defaults(directory: Path, variable: str) -> dict[str, Any]:
    """The attributes of an object variable's type -> their optional() default (None when there is none)."""
    match = re.fullmatch(r"\$\{object\(\{(.*)\}\)\}", load_dir(directory)["variable"][variable]["type"], re.S)
    assert match, variable
    defaults: dict[str, Any] = {}
    for attribute in _split_top(match.group(1)):
        name, _, spec = attribute.partition(" = ")
        inner = re.fullmatch(r"optional\((.*)\)", spec, re.S)
        assert inner, f"{variable}.{name}: every attribute is optional() with a default"
        args = _split_top(inner.group(1))
        defaults[name] = json.loads(args[1]) if len(args) == 2 else None
    return defaults


def first(body: dict[str, Any], block: str) -> dict[str, Any]:
    """A nested block: a list of one dict with explicit_blocks=False."""
    value = body[block]
    return value[0] if isinstance(value, list) else value


# --- lifecycle hook ------------------------------------------------------------------------------------------


def test_one_terminating_hook_per_group_with_explicit_default_result() -> None:
    hooks = resources("aws_autoscaling_lifecycle_hook")
    assert list(hooks) == ["gate"]
    hook = hooks["gate"]
    assert hook["for_each"] == "${toset(var.autoscaling_group_names)}"
    assert hook["autoscaling_group_name"] == "${each.value}"
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["default_result"] == "${module.core.hook.default_result}", "DefaultResult must be set (AWS: ABANDON)"
    assert hook["heartbeat_timeout"] == "${module.core.hook.heartbeat_timeout}"
    assert hook["name"] == "${module.core.hook.name}"
    assert "notification_target_arn" not in hook, "events must go to EventBridge, not SNS/SQS"
    # the lifecycle and tick rules' targets and permissions are instances of these (events.tf)
    for dependency in ("aws_lambda_permission.gate", "aws_cloudwatch_event_target.gate"):
        assert f"${{{dependency}}}" in hook["depends_on"], "the hook must only exist once the gate can receive events"


def test_hook_variables_default_and_are_validated_in_core() -> None:
    core_vars = load_dir(CORE)["variable"]
    assert optional_defaults(CORE, "hook") == {
        "name": "asg-termination-gate",
        "heartbeat_timeout_seconds": 300,
        "default_result": "CONTINUE",
    }
    assert optional_defaults(CORE, "hold")["max_seconds"] == 14400
    conditions = json.dumps(core_vars["hook"]["validation"])
    assert "30" in conditions and "7200" in conditions and "3 * var.tick.interval_seconds" in conditions
    assert "min(172800, 100 * var.hook.heartbeat_timeout_seconds)" in json.dumps(core_vars["hold"]["validation"])


# --- EventBridge ---------------------------------------------------------------------------------------------


def test_event_patterns() -> None:
    core_locals = load_dir(CORE)["locals"]
    lifecycle = core_locals["lifecycle_event_pattern"]
    assert lifecycle["source"] == ["aws.autoscaling"]
    assert lifecycle["detail-type"] == ["EC2 Instance-terminate Lifecycle Action"]
    assert lifecycle["detail"]["AutoScalingGroupName"] == "${var.autoscaling_group_names}"
    spot = core_locals["spot_event_pattern"]
    assert spot["source"] == ["aws.ec2"]
    assert spot["detail-type"] == ["EC2 Spot Instance Interruption Warning"]
    assert core_locals["schedule_expression"].endswith(
        '"rate(1 minute)" : "rate(${var.tick.interval_seconds / 60} minutes)"}'
    )

    rules = event_rules()
    assert set(rules) == {"lifecycle", "tick", "spot", "audit"}  # audit: audit.tf, tests/infra/test_audit_tf.py
    assert rules["lifecycle"]["event_pattern"] == "${module.core.lifecycle_event_pattern}"
    assert rules["tick"]["schedule_expression"] == "${module.core.schedule_expression}"
    assert rules["spot"]["event_pattern"] == "${module.core.spot_event_pattern}"
    assert (rules["lifecycle"]["enabled"], rules["tick"]["enabled"]) == (True, True)
    assert rules["spot"]["enabled"] == "${var.handle_spot_interruptions}"
    assert load_dir(MODULE)["variable"]["handle_spot_interruptions"]["default"] is False
    # a pattern or a schedule, never both; no input but the audit's
    for key, rule in rules.items():
        assert (rule["event_pattern"] is None) != (rule["schedule_expression"] is None), key
        assert (rule["input"] is None) == (key != "audit"), key
    # a tick superseded by the next one: no retry, dropped after a minute; lifecycle and Spot events keep the default
    assert [rules[k]["max_event_age_seconds"] for k in ("lifecycle", "tick", "spot")] == [None, 60, None]


def event_rules() -> dict[str, Any]:
    """The EventBridge rules (events.tf's resources, an instance per rule): key -> the defaults merged with its entry
    of local.event_rules or audit.tf's local.audit_event_rules, as the resources' for_each does."""
    locals_ = load_dir(MODULE)["locals"]
    assert locals_["gate_event_rules"] == (
        "${{for key, rule in merge(local.event_rules, local.audit_event_rules) : "
        "key => merge(local.event_rule_defaults, rule) if rule.enabled}}"
    )
    specs = {**locals_["event_rules"], **locals_["audit_event_rules"]}
    return {key: {**locals_["event_rule_defaults"], **spec} for key, spec in specs.items()}


def test_every_rule_targets_the_lambda_and_may_invoke_it() -> None:
    rule = resources("aws_cloudwatch_event_rule")["gate"]
    target = resources("aws_cloudwatch_event_target")["gate"]
    permission = resources("aws_lambda_permission")["gate"]
    assert list(resources("aws_cloudwatch_event_rule")) == ["gate"]
    assert rule["for_each"] == target["for_each"] == permission["for_each"] == "${local.gate_event_rules}"
    assert rule["event_pattern"] == "${each.value.event_pattern}"
    assert rule["schedule_expression"] == "${each.value.schedule_expression}"
    assert rule["state"] == "ENABLED"
    assert target["arn"] == "${module.gate_function.arn}" and target["input"] == "${each.value.input}"
    assert target["rule"] == "${aws_cloudwatch_event_rule.gate[each.key].name}"
    retry = target["dynamic"][0]["retry_policy"]
    assert retry["for_each"] == "${each.value.max_event_age_seconds == null ? [] : [each.value.max_event_age_seconds]}"
    assert retry["content"][0] == {"maximum_event_age_in_seconds": "${retry_policy.value}", "maximum_retry_attempts": 0}
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["function_name"] == "${module.gate_function.function_name}"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.gate[each.key].arn}"
    assert permission["statement_id"] == "${each.value.statement_id}"
    assert {k: r["statement_id"] for k, r in event_rules().items()} == {
        "lifecycle": "AllowLifecycleRule",
        "tick": "AllowTickRule",
        "spot": "AllowSpotRule",
        "audit": "AllowAuditRule",
    }


# --- Lambda --------------------------------------------------------------------------------------------------


def function_calls() -> dict[str, Any]:
    """The module's calls of modules/function: one per Lambda function of the gate's zip."""
    return {k: v for k, v in load_dir(MODULE)["module"].items() if v["source"] == "./modules/function"}


def test_every_function_of_the_zip_is_one_call_of_the_function_module() -> None:
    """The four functions share modules/function and local.function_common (code, runtime, architecture, memory,
    KMS key, VPC, tags, alarm actions); each call sets only what differs."""
    assert set(function_calls()) == {"gate_function", "selection_function", "service_hook_function", "recheck_function"}
    assert not resources("aws_lambda_function") and not resources("aws_cloudwatch_log_group")
    for name, call in function_calls().items():
        assert call["common"] == "${local.function_common}", name
        assert set(call) - {"source", "count", "depends_on", "alarms", "reserved_concurrent_executions"} == {
            "function_name",
            "description",
            "role",
            "handler",
            "timeout",
            "environment",
            "common",
            "log_group",
        }, name
    common = load_dir(MODULE)["locals"]["function_common"]
    assert (common["runtime"], common["architecture"], common["memory_size"]) == (
        "${var.lambda.runtime}",
        "${var.lambda.architecture}",
        "${var.lambda.memory_mb}",
    )
    assert common["code"] == {
        "zip_path": "${var.lambda_zip_path}",
        "s3_bucket": "${var.s3_bucket}",
        "s3_key": "${var.s3_key}",
        "s3_object_version": "${var.s3_object_version}",
        "source_code_hash": (
            "${var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : var.source_code_hash}"
        ),
    }
    assert common["vpc"] == {
        "subnet_ids": "${var.vpc_subnet_ids}",
        "security_group_ids": "${var.vpc_security_group_ids}",
    }
    assert (common["kms_key_arn"], common["tags"], common["alarm_actions"]) == (
        "${var.kms_key_arn}",
        "${var.tags}",
        "${local.alarm_actions}",
    )
    fn = load_dir(FUNCTION)["resource"]["aws_lambda_function"]["this"]
    assert fn["runtime"] == "${var.common.runtime}" and fn["architectures"] == ["${var.common.architecture}"]
    assert fn["memory_size"] == "${var.common.memory_size}" and fn["kms_key_arn"] == "${var.common.kms_key_arn}"
    assert (fn["filename"], fn["s3_bucket"], fn["s3_key"], fn["s3_object_version"], fn["source_code_hash"]) == (
        "${var.common.code.zip_path}",
        "${var.common.code.s3_bucket}",
        "${var.common.code.s3_key}",
        "${var.common.code.s3_object_version}",
        "${var.common.code.source_code_hash}",
    )
    assert first(fn, "environment")["variables"] == "${var.environment}"
    assert first(fn, "tracing_config")["mode"] == "PassThrough" and fn["tags"] == "${var.common.tags}"
    assert fn["depends_on"] == ["${aws_cloudwatch_log_group.this}"]


def test_moved_blocks_carry_every_old_address_to_its_new_one() -> None:
    """A deployment made before modules/function (or before the alarms became one resource) updates in place: each
    old function, log group and alarm has its moved block, to the new address of the same resource."""
    with (MODULE / "moved.tf").open() as f:
        moved = {b["from"]: b["to"] for b in hcl2.load(f, serialization_options=OPTIONS)["moved"]}
    assert moved == {
        "${aws_lambda_function.gate}": "${module.gate_function.aws_lambda_function.this}",
        "${aws_cloudwatch_log_group.gate}": "${module.gate_function.aws_cloudwatch_log_group.this[0]}",
        "${aws_cloudwatch_metric_alarm.lambda_errors[0]}": (
            '${module.gate_function.aws_cloudwatch_metric_alarm.this["Errors"]}'
        ),
        "${aws_lambda_function.selection[0]}": "${module.selection_function[0].aws_lambda_function.this}",
        "${aws_lambda_function.service_hook[0]}": "${module.service_hook_function[0].aws_lambda_function.this}",
        "${aws_cloudwatch_log_group.service_hook[0]}": (
            "${module.service_hook_function[0].aws_cloudwatch_log_group.this[0]}"
        ),
        "${aws_cloudwatch_metric_alarm.service_hook_errors[0]}": (
            '${module.service_hook_function[0].aws_cloudwatch_metric_alarm.this["Errors"]}'
        ),
        "${aws_cloudwatch_metric_alarm.service_hook_throttles[0]}": (
            '${module.service_hook_function[0].aws_cloudwatch_metric_alarm.this["Throttles"]}'
        ),
        "${aws_lambda_function.recheck[0]}": "${module.recheck_function[0].aws_lambda_function.this}",
        "${aws_cloudwatch_log_group.recheck[0]}": "${module.recheck_function[0].aws_cloudwatch_log_group.this[0]}",
        "${aws_cloudwatch_metric_alarm.recheck_errors[0]}": (
            '${module.recheck_function[0].aws_cloudwatch_metric_alarm.this["Errors"]}'
        ),
        # the module's own alarms: one resource, an instance per alarm keyed by its old name (monitoring.tf)
        **{
            f"${{aws_cloudwatch_metric_alarm.{key}[0]}}": f'${{aws_cloudwatch_metric_alarm.gate["{key}"]}}'
            for key in (
                "dlq_not_empty",
                "forced_releases",
                "error_decisions",
                "failsafe_holds",
                "recheck_forced_releases",
                "recheck_error_decisions",
                "builds_killed_by_scale_in",
            )
        },
        # the EventBridge rules, targets and permissions: one resource each, keyed by the old names (events.tf)
        **{
            f"${{{rtype}.{key}{index}}}": f'${{{rtype}.gate["{key}"]}}'
            for key, index in (("lifecycle", ""), ("tick", ""), ("spot", "[0]"), ("audit", "[0]"))
            for rtype in ("aws_cloudwatch_event_rule", "aws_cloudwatch_event_target", "aws_lambda_permission")
        },
    }


def test_lambda_function() -> None:
    fn = function_calls()["gate_function"]
    variables = load_dir(MODULE)["variable"]
    lambda_defaults = optional_defaults(MODULE, "lambda")
    assert lambda_defaults["runtime"] == "python3.12"
    assert fn["handler"] == "gate.handler.handle"
    assert lambda_defaults["architecture"] == "x86_64" and "lambda_zip_path" in variables
    assert fn["role"] == "${local.role_arn}"
    assert fn["timeout"] == "${module.core.lambda_timeout_seconds}"
    assert optional_defaults(CORE, "lambda")["timeout_seconds"] == 70
    assert fn["environment"] == "${module.core.environment}"
    assert fn["reserved_concurrent_executions"] == "${var.lambda.reserved_concurrent_executions}"
    assert fn["depends_on"] == ["${aws_iam_role_policy.gate}", "${aws_iam_role_policy_attachment.vpc}"]

    invoke = resources("aws_lambda_function_event_invoke_config")["gate"]
    [dynamic] = invoke["dynamic"]
    destination = dynamic["destination_config"]
    assert destination["for_each"] == "${var.create_dlq ? [1] : []}"
    assert first(first(destination, "content"), "on_failure")["destination"] == "${aws_sqs_queue.dlq[0].arn}"
    assert invoke["maximum_retry_attempts"] == "${var.lambda.maximum_retry_attempts}"


EXPECTED_ENV = {
    "GATE_AZURE_ORG_URL": "${var.azure_devops.org_url}",
    "GATE_POOLS": '${join(",", var.azure_devops.pools)}',
    "GATE_MAPPING": "${var.agents.mapping}",
    "GATE_CAPABILITY_NAME": "${var.agents.capability_name}",
    "GATE_PAT_SECRET_ARN": "${var.azure_devops.pat_secret_arn}",
    "GATE_GROUPS": '${join(",", var.autoscaling_group_names)}',
    "GATE_HOOK_NAME": "${var.hook.name}",
    "GATE_MAX_HOLD_SECONDS": "${tostring(var.hold.max_seconds)}",
    "GATE_IDLE_CONFIRM_SECONDS": "${tostring(var.hold.idle_confirm_seconds)}",
    "GATE_UNREGISTERED_GRACE_SECONDS": "${tostring(var.hold.unregistered_grace_seconds)}",
    "GATE_DELETE_AGENT_ON_RELEASE": "${tostring(var.hold.delete_agent_on_release)}",
    "GATE_DRY_RUN": "${tostring(var.hold.dry_run)}",
    "GATE_RECHECK_INTERVAL_SECONDS": "${tostring(var.tick.recheck_interval_seconds)}",
    "GATE_TICK_BUDGET_SECONDS": "${tostring(var.tick.budget_seconds)}",
    "GATE_FORCED_RESULT": "${var.hold.forced_result}",
    "GATE_HEARTBEAT_INTERVAL_SECONDS": "${tostring(var.hold.heartbeat_interval_seconds)}",
    "GATE_LOG_LEVEL": "${var.monitoring.log_level}",
    "GATE_METRICS_NAMESPACE": "${var.monitoring.metrics_namespace}",
    "GATE_PROTECT_BUSY": "${tostring(var.hold.protect_busy)}",
    "GATE_ECS_CLUSTER": "${var.ecs.cluster_name}",
    "GATE_ECS_DRAIN": "${tostring(var.ecs.drain)}",
    "GATE_WEBHOOK_URL": "${var.notifications.webhook_url}",
    "GATE_HOLD_NOTIFY_SECONDS": "${tostring(var.notifications.hold_notify_seconds)}",
    "GATE_AGENT_SYSTEM": "${var.agent_system}",
    "GATE_GITHUB_API_URL": "${var.github.api_url}",
    "GATE_GITHUB_ORG": "${var.github.org}",
    "GATE_GITHUB_REPOS": '${join(",", var.github.repos)}',
    "GATE_GITHUB_TOKEN_SECRET_ARN": "${var.github.token_secret_arn}",
    "GATE_GITLAB_URL": "${var.gitlab.url}",
    "GATE_GITLAB_TOKEN_SECRET_ARN": "${var.gitlab.token_secret_arn}",
    "GATE_GITLAB_RUNNERS": "${var.gitlab.runners}",
    "GATE_GITLAB_TAG_LIST": '${join(",", var.gitlab.tag_list)}',
    "GATE_GROUP_POOLS": "${jsonencode(var.agents.group_pools)}",
    "GATE_CHECK_JOB_REQUESTS": "${tostring(var.hold.check_job_requests)}",
    "GATE_HTTP_TIMEOUT_SECONDS": "${tostring(var.agents.http_timeout_seconds)}",
    "GATE_MAX_RETRY_AFTER_SECONDS": "${tostring(var.agents.max_retry_after_seconds)}",
    "GATE_ECS_WAIT_TASKS": "${tostring(var.ecs.wait_tasks)}",
    "GATE_ECS_IGNORE_TASK_GROUPS": '${join(",", var.ecs.ignore_task_groups)}',
    "GATE_WEBHOOK_FORMAT": "${var.notifications.webhook_format}",
    "GATE_WEBHOOK_TIMEOUT_SECONDS": "${tostring(var.notifications.webhook_timeout_seconds)}",
    "GATE_ASSIGNMENT_LAG_SECONDS": "${tostring(var.hold.assignment_lag_seconds)}",
    "GATE_AZURE_AUTH": "${var.azure_devops.auth}",
    "GATE_ENTRA_SECRET_ARN": "${var.azure_devops.entra_secret_arn}",
    "GATE_ENTRA_AUTHORITY_HOST": "${var.azure_devops.entra_authority_host}",
    "GATE_AZURE_API_VERSION": "${var.azure_devops.api_version}",
    "GATE_SECRET_CACHE_SECONDS": "${tostring(var.agents.secret_cache_seconds)}",
    "GATE_TIERS": "${jsonencode(var.tiers)}",
    "GATE_HEARTBEAT_CONCURRENCY": "16",
    "GATE_AGENT_CONCURRENCY": "8",
    "GATE_INVOCATION_MARGIN_SECONDS": "5",
}


def test_environment_names_exactly() -> None:
    assert load_dir(CORE)["locals"]["environment"] == EXPECTED_ENV


def test_every_core_input_is_passed_by_the_module() -> None:
    core_vars = set(load_dir(CORE)["variable"])
    call = load_dir(MODULE)["module"]["core"]
    passed = set(call) - {"source"}
    assert passed == core_vars, (sorted(core_vars - passed), sorted(passed - core_vars))
    module_vars = set(load_dir(MODULE)["variable"])
    for name in passed - {"partition", "region", "account_id"}:
        assert call[name] == f"${{var.{name}}}", name
        assert name in module_vars, name


# --- IAM -----------------------------------------------------------------------------------------------------

EXPECTED_ACTIONS = {
    "CompleteOwnLifecycleActions": [
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
    ],
    "ProtectBusyInstances": ["autoscaling:SetInstanceProtection"],
    "ReadAutoScaling": [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DescribeLifecycleHooks",
        "autoscaling:DescribeScalingActivities",
        "autoscaling:DescribeWarmPool",
    ],
    "ReadInstances": ["ec2:DescribeInstances"],
    "TagOwnInstancesGateKeysOnly": ["ec2:CreateTags"],
    "TerminateOwnRetainedInstances": ["ec2:TerminateInstances"],
    "ReadPatSecret": ["secretsmanager:GetSecretValue"],
    "ReadPatParameter": ["ssm:GetParameter"],
    "DecryptPatViaItsService": ["kms:Decrypt"],
    "WriteOwnLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "SendToOwnDlq": ["sqs:SendMessage"],
    # the re-check function (service_hook.enabled only, issue 19)
    "TakeServiceHookRechecks": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
    "WriteRecheckLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "EncryptDlqMessages": ["kms:Decrypt", "kms:GenerateDataKey"],
    "ListClusterContainerInstances": ["ecs:ListContainerInstances"],
    "DrainClusterContainerInstances": ["ecs:DescribeContainerInstances", "ecs:UpdateContainerInstancesState"],
    "DescribeClusterTasks": ["ecs:DescribeTasks"],
    "ListClusterTasks": ["ecs:ListTasks"],
}

EXPECTED_RESOURCES = {
    "CompleteOwnLifecycleActions": "${local.group_arns}",
    "ProtectBusyInstances": "${local.group_arns}",
    "TagOwnInstancesGateKeysOnly": "${local.instance_arns}",
    "TerminateOwnRetainedInstances": "${local.instance_arns}",
    "ReadPatSecret": "${local.pat_resource}",
    "ReadPatParameter": "${local.pat_resource}",
    "WriteOwnLogs": "${local.log_group_arn}:*",
    "SendToOwnDlq": "${local.dlq_arn}",
    "ListClusterContainerInstances": "${local.ecs_cluster_arn}",
    "DrainClusterContainerInstances": "${local.ecs_instance_arn}",
    "DescribeClusterTasks": "${local.ecs_task_arn}",
}


def statements() -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in load_dir(CORE)["locals"]["policy_statements"].values()}


def test_exact_action_lists() -> None:
    assert {sid: s["Action"] for sid, s in statements().items()} == EXPECTED_ACTIONS
    assert all(s["Effect"] == "Allow" for s in statements().values())


def test_no_star_resource_on_any_mutating_action() -> None:
    for sid, statement in statements().items():
        resource = statement["Resource"]
        star = resource == "*" or (isinstance(resource, list) and "*" in resource)
        if star:
            mutating = [a for a in statement["Action"] if not READ_ACTION.match(a)]
            assert not mutating, f"{sid}: {mutating} on Resource '*'"
    for sid, resource in EXPECTED_RESOURCES.items():
        assert statements()[sid]["Resource"] == resource, sid
    assert statements()["ListClusterTasks"]["Condition"] == {"ArnEquals": {"ecs:cluster": "${local.ecs_cluster_arn}"}}


def test_kms_only_via_its_service() -> None:
    for sid in ("DecryptPatViaItsService", "EncryptDlqMessages"):
        assert "kms:ViaService" in statements()[sid]["Condition"]["StringEquals"], sid


def test_create_tags_only_gate_keys_on_own_instances() -> None:
    condition = statements()["TagOwnInstancesGateKeysOnly"]["Condition"]
    assert condition["ForAllValues:StringLike"] == {"aws:TagKeys": ["gate:*"]}
    assert condition["Null"] == {"aws:TagKeys": "false"}
    assert condition["StringEquals"] == {"aws:ResourceTag/aws:autoscaling:groupName": "${var.autoscaling_group_names}"}
    terminate = statements()["TerminateOwnRetainedInstances"]["Condition"]
    assert terminate == {
        "StringEquals": {"aws:ResourceTag/aws:autoscaling:groupName": "${var.autoscaling_group_names}"}
    }


def test_arn_shapes() -> None:
    core_locals = load_dir(CORE)["locals"]
    assert "autoScalingGroup:*:autoScalingGroupName/${g}" in core_locals["group_arns"]
    assert core_locals["instance_arns"].endswith(":ec2:${var.region}:${var.account_id}:instance/*")


def test_role_uses_core_policy_built_with_jsonencode() -> None:
    assert resources("aws_iam_role_policy")["gate"]["policy"] == "${module.core.policy_json}"
    assert resources("aws_iam_role_policy")["service_hook"]["policy"] == "${module.core.service_hook_policy_json}"
    assert load_dir(CORE)["output"]["service_hook_policy_json"]["value"] == (
        "${jsonencode(local.service_hook_policy_document)}"
    )
    assert resources("aws_iam_role")["gate"]["assume_role_policy"] == "${module.core.assume_role_policy_json}"
    assert load_dir(CORE)["output"]["policy_json"]["value"] == "${jsonencode(local.policy_document)}"
    for directory in (MODULE, CORE, EXAMPLE):
        assert "aws_iam_policy_document" not in load_dir(directory)["data"], directory
    assert set(load_dir(CORE)["locals"]["policy_statement_enabled"]) == set(
        load_dir(CORE)["locals"]["policy_statements"]
    )


def test_core_is_provider_free() -> None:
    core = load_dir(CORE)
    assert not core["resource"] and not core["data"] and not core["module"]
    assert not core["provider"]
    assert all("required_providers" not in block for block in core["terraform"]), core["terraform"]


# --- logs, DLQ, alarms ---------------------------------------------------------------------------------------


def test_log_group_retention() -> None:
    for name in ("gate_function", "service_hook_function", "recheck_function"):
        group = function_calls()[name]["log_group"]
        assert group["create"] is True and group["retention_in_days"] == "${var.monitoring.log_retention_days}", name
    assert function_calls()["gate_function"]["log_group"]["name"] == "${module.core.names.log_group}"
    resource = load_dir(FUNCTION)["resource"]["aws_cloudwatch_log_group"]["this"]
    assert resource["count"] == "${var.log_group.create ? 1 : 0}"
    assert resource["retention_in_days"] == "${var.log_group.retention_in_days}"
    assert resource["kms_key_id"] == "${var.common.kms_key_arn}"
    assert optional_defaults(MODULE, "monitoring")["log_retention_days"] == 30


def test_dlq_encrypted() -> None:
    queue = resources("aws_sqs_queue")["dlq"]
    assert queue["sqs_managed_sse_enabled"] == "${var.kms_key_arn == null ? true : null}"
    assert queue["kms_master_key_id"] == "${var.kms_key_arn}"


def alarm_specs() -> dict[str, Any]:
    """The module's own alarms (monitoring.tf's aws_cloudwatch_metric_alarm.gate): key -> the defaults merged with
    its entry of local.alarms, as the resource's for_each does."""
    locals_ = load_dir(MODULE)["locals"]
    assert locals_["alarms"] == "${merge(local.gate_alarms, local.recheck_alarms, local.audit_alarms)}"
    specs = {**locals_["gate_alarms"], **locals_["recheck_alarms"], **locals_["audit_alarms"]}
    return {key: {**locals_["alarm_defaults"], **spec} for key, spec in specs.items()}


def test_alarms() -> None:
    [alarm] = resources("aws_cloudwatch_metric_alarm").values()  # one resource, an instance per entry
    assert alarm["for_each"] == (
        "${var.monitoring.create_alarms ? {for key, alarm in local.alarms : "
        "key => merge(local.alarm_defaults, alarm) if alarm.enabled} : {}}"
    )
    for attribute in ("namespace", "metric_name", "dimensions", "statistic", "period", "evaluation_periods"):
        assert alarm[attribute] == f"${{each.value.{attribute}}}", attribute
    assert alarm["datapoints_to_alarm"] == "${each.value.datapoints_to_alarm}"
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["alarm_actions"] == alarm["ok_actions"] == "${local.alarm_actions}"
    assert alarm["treat_missing_data"] == "notBreaching"
    alarms = alarm_specs()
    receiver = {"recheck_forced_releases", "recheck_error_decisions"}  # servicehook.tf: the re-check's decisions
    audit = {"builds_killed_by_scale_in"}  # audit.tf (issue 22): tests/infra/test_audit_tf.py
    assert set(alarms) == {"dlq_not_empty", "forced_releases", "error_decisions", "failsafe_holds"} | receiver | audit
    # Lambda's Errors (and the receiver's Throttles) of each function: modules/function, one alarm per metric named
    lambda_alarm = load_dir(FUNCTION)["resource"]["aws_cloudwatch_metric_alarm"]["this"]
    assert (lambda_alarm["namespace"], lambda_alarm["metric_name"]) == ("AWS/Lambda", "${each.key}")
    assert lambda_alarm["dimensions"] == {"FunctionName": "${aws_lambda_function.this.function_name}"}
    assert lambda_alarm["alarm_actions"] == lambda_alarm["ok_actions"] == "${var.common.alarm_actions}"
    assert (lambda_alarm["comparison_operator"], lambda_alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert lambda_alarm["treat_missing_data"] == "notBreaching"
    calls = function_calls()
    for name, metrics in {
        "gate_function": ["Errors"],
        "service_hook_function": ["Errors", "Throttles"],
        "recheck_function": ["Errors"],
    }.items():
        alarms_arg = calls[name]["alarms"]
        assert alarms_arg.startswith("${var.monitoring.create_alarms ? {") and alarms_arg.endswith("} : {}}"), name
        assert [m for m in ("Errors", "Throttles") if f"{m} = {{" in alarms_arg] == metrics, name
    assert "alarms" not in calls["selection_function"]
    dlq, forced = alarms["dlq_not_empty"], alarms["forced_releases"]
    error_decisions = alarms["error_decisions"]
    assert dlq["enabled"] == "${var.create_dlq}" and forced["enabled"] is error_decisions["enabled"] is True
    assert (dlq["namespace"], dlq["metric_name"], dlq["statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert dlq["dimensions"] == {"QueueName": "${one(aws_sqs_queue.dlq[*].name)}"}
    assert (forced["namespace"], forced["metric_name"]) == ("${var.monitoring.metrics_namespace}", "Decisions")
    assert forced["dimensions"] == '${merge(module.core.metric_dimensions, {Outcome = "forced"})}'
    assert (error_decisions["namespace"], error_decisions["metric_name"]) == (
        "${var.monitoring.metrics_namespace}",
        "Decisions",
    )
    assert error_decisions["dimensions"] == '${merge(module.core.metric_dimensions, {Outcome = "error"})}'
    for decisions in (forced, error_decisions):
        assert (decisions["statistic"], decisions["period"], decisions["evaluation_periods"]) == ("Sum", 300, 1)
        assert decisions["datapoints_to_alarm"] is None
    assert optional_defaults(MODULE, "monitoring")["metrics_namespace"] == "AsgTerminationGate"
    # A fail-safe hold that persists (issue 18): FailsafeHolds above 0 in every period of failsafe_hold_alarm_minutes.
    failsafe = alarms["failsafe_holds"]
    assert (failsafe["namespace"], failsafe["metric_name"]) == (
        "${var.monitoring.metrics_namespace}",
        "${module.core.failsafe_alarm.metric_name}",
    )
    assert failsafe["dimensions"] == {"FunctionName": "${module.gate_function.function_name}"}
    assert failsafe["evaluation_periods"] == failsafe["datapoints_to_alarm"]
    assert failsafe["evaluation_periods"] == "${module.core.failsafe_alarm.evaluation_periods}"
    assert optional_defaults(MODULE, "monitoring")["failsafe_hold_alarm_minutes"] == 15
    assert "failsafe_hold_alarm_minutes" in json.dumps(load_dir(CORE)["variable"]["monitoring"]["validation"])
    # the re-check function's decisions alarm like the gate's, on its own FunctionName
    for key, outcome in (("recheck_forced_releases", "forced"), ("recheck_error_decisions", "error")):
        recheck = alarms[key]
        assert recheck["enabled"] == "${var.service_hook.enabled}", key
        assert (recheck["namespace"], recheck["metric_name"], recheck["statistic"]) == (
            "${var.monitoring.metrics_namespace}",
            "Decisions",
            "Sum",
        )
        assert recheck["dimensions"] == {
            "FunctionName": "${one(module.recheck_function[*].function_name)}",
            "Outcome": outcome,
        }


# --- example -------------------------------------------------------------------------------------------------


def test_complete_example_ecs_capacity_provider_in_the_fail_safe_posture() -> None:
    example = load_dir(EXAMPLE)
    group = example["resource"]["aws_autoscaling_group"]["agents"]
    retention = first(first(group, "instance_lifecycle_policy"), "retention_triggers")
    assert retention["terminate_hook_abandon"] == "retain", "abandoned hooks must keep the instance"
    provider = example["resource"]["aws_ecs_capacity_provider"]["agents"]
    asg = first(provider, "auto_scaling_group_provider")
    assert asg["auto_scaling_group_arn"] == "${aws_autoscaling_group.agents.arn}"
    assert asg["managed_draining"] == "DISABLED"
    assert asg["managed_termination_protection"] == "DISABLED"
    gate = example["module"]["termination_gate"]
    assert gate["source"] == "../../modules/termination-gate"
    assert gate["autoscaling_group_names"] == ["${aws_autoscaling_group.agents.name}"]
    assert gate["ecs"]["cluster_name"] == "${aws_ecs_cluster.agents.name}"
    assert (gate["hook"]["default_result"], gate["hold"]["forced_result"]) == ("ABANDON", "ABANDON")
    assert {"s3_bucket", "s3_key"} <= set(gate) and "lambda_zip_path" not in gate
    assert gate["lambda"]["architecture"] == "arm64"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_each_example_calls_the_module_and_has_a_readme(name: str) -> None:
    directory = EXAMPLES / name
    readme = (directory / "README.md").read_text()
    assert readme.startswith("# ") and "terraform init" in readme
    example = load_dir(directory)
    assert example["module"]["termination_gate"]["source"] == "../../modules/termination-gate"
    for variable, body in example["variable"].items():
        assert body.get("description"), f"{name}: variable {variable} has no description"


def test_github_runners_example_uses_the_github_agent_system() -> None:
    gate = load_dir(EXAMPLES / "github-runners")["module"]["termination_gate"]
    assert gate["agent_system"] == "github"
    assert gate["github"]["token_secret_arn"] == "${var.github_token_secret_arn}"


def test_gitlab_runners_example_uses_the_gitlab_agent_system() -> None:
    gate = load_dir(EXAMPLES / "gitlab-runners")["module"]["termination_gate"]
    assert gate["agent_system"] == "gitlab"
    assert gate["gitlab"]["token_secret_arn"] == "${var.gitlab_token_secret_arn}"


def test_module_outputs() -> None:
    outputs = set(load_dir(MODULE)["output"])
    assert {
        "lambda_function_arn",
        "lambda_function_name",
        "lifecycle_hook_names",
        "lifecycle_rule_arn",
        "tick_rule_arn",
        "spot_rule_arn",
        "dlq_url",
        "dlq_arn",
        "log_group_name",
        "alarm_topic_arn",
        "role_arn",
    } <= outputs


# --- the module passes its inputs through; core validates them, once ------------------------------------------


def test_module_inputs_are_cores_verbatim_and_validated_only_there() -> None:
    """Each input the module hands to core has core's type (with its optional() defaults), default, description,
    nullability and sensitivity, and no validation of its own: every rule is written once, in core, where the
    offline `terraform test` runs prove it."""
    core_vars, root_vars = load_dir(CORE)["variable"], load_dir(MODULE)["variable"]
    call = load_dir(MODULE)["module"]["core"]
    objects = 0
    for name, core_var in core_vars.items():
        if call.get(name) != f"${{var.{name}}}":
            continue  # partition, region, account_id come from data sources
        root_var = root_vars[name]
        assert "validation" not in root_var, f"{name}: validate it in modules/core only"
        for key in ("type", "default", "description", "nullable", "sensitive"):
            assert root_var.get(key) == core_var.get(key), (name, key)
        objects += str(core_var["type"]).startswith("${object(")
    assert objects >= 10
    validated = ("hook", "tick", "hold", "agents", "azure_devops", "github", "gitlab", "ecs", "notifications")
    for name in (*validated, "service_hook"):
        assert load_dir(CORE)["variable"][name].get("validation"), name


def test_every_root_variable_has_a_description_and_type() -> None:
    for name, var in load_dir(MODULE)["variable"].items():
        assert var.get("description") and var.get("type"), name


def test_upgrade_note_maps_every_v01_variable_to_an_input_that_exists() -> None:
    """The module README's "Upgrading from v0.1" table: each old scalar -> an object attribute of this module."""
    readme = (MODULE / "README.md").read_text()
    note = readme.split("## Upgrading from v0.1")[1]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)\.(\w+)` \|$", note, re.M)
    assert len(rows) >= 55
    variables = load_dir(MODULE)["variable"]
    for old, group, attribute in rows:
        assert old not in variables or old == group, f"{old} is still a variable of the module"
        assert attribute in optional_defaults(MODULE, group), f"{old} -> {group}.{attribute} does not exist"
    unchanged = re.search(r"Unchanged: (.*?)\.\n\n", note, re.S)
    assert unchanged
    names = set(re.findall(r"`(\w+)`", unchanged.group(1)))
    objects = ("${object(", "${list(object(")  # object inputs, and lists of them (tiers): none is a v0.1 scalar
    assert names == {n for n, v in variables.items() if not str(v["type"]).startswith(objects)}
