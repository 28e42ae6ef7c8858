output "lambda_function_name" {
  description = "The gate Lambda."
  value       = module.termination_gate.lambda_function_name
}

output "alarm_topic_arn" {
  description = "SNS topic of the gate's alarms: subscribe your on-call."
  value       = module.termination_gate.alarm_topic_arn
}
