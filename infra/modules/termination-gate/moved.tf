# The four functions moved into modules/function (lambda.tf, selection.tf, servicehook.tf): these blocks carry a
# deployment made before that from the old addresses to the new ones, so `terraform plan` updates nothing instead
# of replacing the functions, their log groups and alarms (README, "Upgrading"). Keep them: removing one turns the
# next plan for such a deployment into a destroy and a create.

moved {
  from = aws_lambda_function.gate
  to   = module.gate_function.aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.gate
  to   = module.gate_function.aws_cloudwatch_log_group.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.lambda_errors[0]
  to   = module.gate_function.aws_cloudwatch_metric_alarm.this["Errors"]
}

moved {
  from = aws_lambda_function.selection[0]
  to   = module.selection_function[0].aws_lambda_function.this
}

moved {
  from = aws_lambda_function.service_hook[0]
  to   = module.service_hook_function[0].aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.service_hook[0]
  to   = module.service_hook_function[0].aws_cloudwatch_log_group.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.service_hook_errors[0]
  to   = module.service_hook_function[0].aws_cloudwatch_metric_alarm.this["Errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.service_hook_throttles[0]
  to   = module.service_hook_function[0].aws_cloudwatch_metric_alarm.this["Throttles"]
}

moved {
  from = aws_lambda_function.recheck[0]
  to   = module.recheck_function[0].aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.recheck[0]
  to   = module.recheck_function[0].aws_cloudwatch_log_group.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.recheck_errors[0]
  to   = module.recheck_function[0].aws_cloudwatch_metric_alarm.this["Errors"]
}

# The module's own alarms (monitoring.tf, servicehook.tf, audit.tf) became the instances of one resource,
# aws_cloudwatch_metric_alarm.gate, keyed by their old names.

moved {
  from = aws_cloudwatch_metric_alarm.dlq_not_empty[0]
  to   = aws_cloudwatch_metric_alarm.gate["dlq_not_empty"]
}

moved {
  from = aws_cloudwatch_metric_alarm.forced_releases[0]
  to   = aws_cloudwatch_metric_alarm.gate["forced_releases"]
}

moved {
  from = aws_cloudwatch_metric_alarm.error_decisions[0]
  to   = aws_cloudwatch_metric_alarm.gate["error_decisions"]
}

moved {
  from = aws_cloudwatch_metric_alarm.failsafe_holds[0]
  to   = aws_cloudwatch_metric_alarm.gate["failsafe_holds"]
}

moved {
  from = aws_cloudwatch_metric_alarm.recheck_forced_releases[0]
  to   = aws_cloudwatch_metric_alarm.gate["recheck_forced_releases"]
}

moved {
  from = aws_cloudwatch_metric_alarm.recheck_error_decisions[0]
  to   = aws_cloudwatch_metric_alarm.gate["recheck_error_decisions"]
}

moved {
  from = aws_cloudwatch_metric_alarm.builds_killed_by_scale_in[0]
  to   = aws_cloudwatch_metric_alarm.gate["builds_killed_by_scale_in"]
}

# The EventBridge rules, their targets and permissions (events.tf, audit.tf) became the instances of one resource
# each, keyed by their old names.

moved {
  from = aws_cloudwatch_event_rule.lifecycle
  to   = aws_cloudwatch_event_rule.gate["lifecycle"]
}

moved {
  from = aws_cloudwatch_event_target.lifecycle
  to   = aws_cloudwatch_event_target.gate["lifecycle"]
}

moved {
  from = aws_lambda_permission.lifecycle
  to   = aws_lambda_permission.gate["lifecycle"]
}

moved {
  from = aws_cloudwatch_event_rule.tick
  to   = aws_cloudwatch_event_rule.gate["tick"]
}

moved {
  from = aws_cloudwatch_event_target.tick
  to   = aws_cloudwatch_event_target.gate["tick"]
}

moved {
  from = aws_lambda_permission.tick
  to   = aws_lambda_permission.gate["tick"]
}

moved {
  from = aws_cloudwatch_event_rule.spot[0]
  to   = aws_cloudwatch_event_rule.gate["spot"]
}

moved {
  from = aws_cloudwatch_event_target.spot[0]
  to   = aws_cloudwatch_event_target.gate["spot"]
}

moved {
  from = aws_lambda_permission.spot[0]
  to   = aws_lambda_permission.gate["spot"]
}

moved {
  from = aws_cloudwatch_event_rule.audit[0]
  to   = aws_cloudwatch_event_rule.gate["audit"]
}

moved {
  from = aws_cloudwatch_event_target.audit[0]
  to   = aws_cloudwatch_event_target.gate["audit"]
}

moved {
  from = aws_lambda_permission.audit[0]
  to   = aws_lambda_permission.gate["audit"]
}
