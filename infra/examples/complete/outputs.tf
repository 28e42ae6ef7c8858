output "autoscaling_group_name" {
  description = "The agents' Auto Scaling group (retains instances whose terminate hook is abandoned)."
  value       = aws_autoscaling_group.agents.name
}

output "capacity_provider_name" {
  description = "ECS capacity provider of the group."
  value       = aws_ecs_capacity_provider.agents.name
}

output "gate_lambda_function_name" {
  description = "The gate Lambda."
  value       = module.termination_gate.lambda_function_name
}

output "gate_lifecycle_hook_names" {
  description = "Hook added to the group."
  value       = module.termination_gate.lifecycle_hook_names
}

output "gate_log_group_name" {
  description = "Where the gate's decisions are logged."
  value       = module.termination_gate.log_group_name
}

output "gate_dlq_url" {
  description = "Dead-letter queue of failed invocations."
  value       = module.termination_gate.dlq_url
}

output "gate_alarm_topic_arn" {
  description = "SNS topic of the gate's alarms."
  value       = module.termination_gate.alarm_topic_arn
}

output "gate_dashboard_name" {
  description = "CloudWatch dashboard of the gate."
  value       = module.termination_gate.dashboard_name
}
