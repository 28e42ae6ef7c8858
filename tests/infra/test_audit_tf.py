"""The scheduled audit's Terraform (audit.tf, modules/core/audit.tf; issue 22): opt-in, one schedule rule that
invokes the gate's function with the audit input, and an alarm on BuildsKilledByScaleIn above 0."""

from __future__ import annotations

import json

from gate.domain.audit import AUDIT_EVENT_KEY, audit_request
from tests.infra.conftest import CORE, MODULE
from tests.infra.test_hcl import alarm_specs, event_rules, load_dir, optional_defaults, resources


def test_the_audit_is_opt_in_and_validated_in_core() -> None:
    assert optional_defaults(MODULE, "audit") == {
        "enabled": False,
        "schedule": "rate(1 hour)",
        "window_hours": 24,
        "alarm_period_seconds": 3600,
    }
    assert len(load_dir(CORE)["variable"]["audit"]["validation"]) == 3
    assert load_dir(MODULE)["module"]["core"]["audit"] == "${var.audit}"


def test_the_rule_invokes_the_function_with_the_audit_input() -> None:
    rule = event_rules()["audit"]  # an instance of events.tf's rule, target and permission (test_hcl)
    assert rule["enabled"] == "${module.core.audit.enabled}"
    assert rule["schedule_expression"] == "${module.core.audit.schedule}" and rule["event_pattern"] is None
    assert rule["input"] == "${module.core.audit.input}"
    assert (rule["statement_id"], rule["max_event_age_seconds"]) == ("AllowAuditRule", 3600)
    target = resources("aws_cloudwatch_event_target")["gate"]
    assert target["arn"] == "${module.gate_function.arn}" and target["input"] == "${each.value.input}"
    permission = resources("aws_lambda_permission")["gate"]
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.gate[each.key].arn}"
    # the input core builds is the event the handler recognises (checked against core's expression)
    core_input = load_dir(CORE)["locals"]["audit"]["input"]
    assert f'"{AUDIT_EVENT_KEY}"' in core_input and "window_seconds" in core_input
    assert audit_request(json.loads(json.dumps({AUDIT_EVENT_KEY: {"window_seconds": 24 * 3600}}))) == 86400


def test_the_alarm_fires_on_a_build_killed_by_scale_in() -> None:
    alarm = alarm_specs()["builds_killed_by_scale_in"]  # an instance of monitoring.tf's alarm resource (test_hcl)
    assert alarm["enabled"] == "${module.core.audit.enabled}"  # and monitoring.create_alarms, for every alarm
    assert (alarm["namespace"], alarm["metric_name"]) == (
        "${var.monitoring.metrics_namespace}",
        "${module.core.audit.metric_name}",
    )
    assert alarm["dimensions"] == {"FunctionName": "${module.gate_function.function_name}"}
    assert (alarm["statistic"], alarm["period"], alarm["evaluation_periods"]) == (
        "Maximum",
        "${module.core.audit.alarm_period_seconds}",
        1,
    )
    [resource] = resources("aws_cloudwatch_metric_alarm").values()
    assert (resource["comparison_operator"], resource["threshold"]) == ("GreaterThanThreshold", 0)
    assert resource["treat_missing_data"] == "notBreaching" and resource["alarm_actions"] == "${local.alarm_actions}"
