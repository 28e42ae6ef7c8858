output "lambda_function_name" {
  description = "The gate Lambda."
  value       = module.termination_gate.lambda_function_name
}

output "log_group_name" {
  description = "Where the gate's decisions are logged (`gate outcomes` reads it)."
  value       = module.termination_gate.log_group_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the gate."
  value       = module.termination_gate.dashboard_name
}

output "alarm_names" {
  description = "The gate's CloudWatch alarms (each should be OK: docs/operations.md says what each means)."
  value       = module.termination_gate.alarm_names
}
