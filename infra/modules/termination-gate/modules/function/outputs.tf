output "arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function" {
  description = "The function's attributes (for the module's tests: handler, timeout, role, environment, code)."
  value       = aws_lambda_function.this
}

output "log_group_name" {
  description = "Name of the function's own log group; null without one."
  value       = one(aws_cloudwatch_log_group.this[*].name)
}

output "log_group_arn" {
  description = "ARN of the function's own log group; null without one."
  value       = one(aws_cloudwatch_log_group.this[*].arn)
}

output "alarm_names" {
  description = "Names of the alarms, by metric name order."
  value       = [for metric in sort(keys(var.alarms)) : aws_cloudwatch_metric_alarm.this[metric].alarm_name]
}

output "log_group" {
  description = "The function's own log group's attributes (for the module's tests); null without one."
  value       = one(aws_cloudwatch_log_group.this[*])
}

output "alarms" {
  description = "Metric name -> the alarm's attributes (for the module's tests)."
  value       = aws_cloudwatch_metric_alarm.this
}
