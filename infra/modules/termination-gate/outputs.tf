output "lambda_function_arn" {
  description = "ARN of the gate Lambda."
  value       = module.gate_function.arn
}

output "lambda_function_name" {
  description = "Name of the gate Lambda."
  value       = module.gate_function.function_name
}

output "role_arn" {
  description = "ARN of the Lambda's execution role."
  value       = local.role_arn
}

output "lifecycle_hook_names" {
  description = "Group name -> name of the terminating lifecycle hook added to it."
  value       = { for g, h in aws_autoscaling_lifecycle_hook.gate : g => h.name }
}

output "lifecycle_rule_arn" {
  description = "ARN of the EventBridge rule for the groups' terminate lifecycle actions."
  value       = aws_cloudwatch_event_rule.gate["lifecycle"].arn
}

output "tick_rule_arn" {
  description = "ARN of the EventBridge schedule rule of the reconciler tick."
  value       = aws_cloudwatch_event_rule.gate["tick"].arn
}

output "spot_rule_arn" {
  description = "ARN of the Spot interruption rule; null unless handle_spot_interruptions."
  value       = var.handle_spot_interruptions ? aws_cloudwatch_event_rule.gate["spot"].arn : null
}

output "dlq_url" {
  description = "URL of the dead-letter queue (failed asynchronous invocations); null unless create_dlq."
  value       = one(aws_sqs_queue.dlq[*].url)
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue; null unless create_dlq."
  value       = one(aws_sqs_queue.dlq[*].arn)
}

output "log_group_name" {
  description = "CloudWatch log group of the gate (one JSON line per decision; `gate outcomes` reads it)."
  value       = module.gate_function.log_group_name
}

output "log_group_arn" {
  description = "ARN of the log group."
  value       = module.gate_function.log_group_arn
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify (created or given); null when none."
  value       = one(local.alarm_actions)
}

# Every alarm the module creates: the gate function's and the four gate alarms first (their order since v0.1), then
# the other keys of aws_cloudwatch_metric_alarm.gate (audit, re-check decisions) in key order, then the other
# functions' Lambda alarms (selection, re-check, service hook receiver).
output "alarm_names" {
  description = "Names of every CloudWatch alarm the module creates ([] unless monitoring.create_alarms)."
  value = concat(
    module.gate_function.alarm_names,
    [
      for key in ["dlq_not_empty", "forced_releases", "error_decisions", "failsafe_holds"] :
      aws_cloudwatch_metric_alarm.gate[key].alarm_name if contains(keys(aws_cloudwatch_metric_alarm.gate), key)
    ],
    [
      for key in sort(keys(aws_cloudwatch_metric_alarm.gate)) :
      aws_cloudwatch_metric_alarm.gate[key].alarm_name
      if !contains(["dlq_not_empty", "forced_releases", "error_decisions", "failsafe_holds"], key)
    ],
    flatten(module.selection_function[*].alarm_names),
    flatten(module.recheck_function[*].alarm_names),
    flatten(module.service_hook_function[*].alarm_names),
  )
}

output "policy_json" {
  description = "The gate's least-privilege IAM policy (JSON): attach it to your own role when create_role = false."
  value       = module.core.policy_json
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard; null unless monitoring.create_dashboard."
  value       = one(aws_cloudwatch_dashboard.gate[*].dashboard_name)
}

output "query_definition_names" {
  description = "Names of the saved Logs Insights queries (outcomes over time, longest holds, forced and error decisions, rounds cut short)."
  value       = sort(keys(aws_cloudwatch_query_definition.gate))
}

output "global_timeout_seconds" {
  description = "The hooks' global timeout min(172800, 100 x hook.heartbeat_timeout_seconds): no hold outlasts it."
  value       = module.core.global_timeout_seconds
}

output "termination_policy_arn" {
  description = "ARN of the idle-first custom termination policy function (selection.enabled; null otherwise). Put it first in a group's termination_policies: [module.NAME.termination_policy_arn, \"Default\"]. Built from the module's name, not from the function, so a group passed in autoscaling_group_names can use it without a dependency cycle."
  value       = var.selection.enabled ? "${module.core.function_arn}-selection" : null
}
