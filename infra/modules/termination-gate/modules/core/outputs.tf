output "names" {
  description = "Names of every resource the parent module creates."
  value       = local.names
}

output "group_arns" {
  description = "ARN patterns of the gated groups (the group id part is a wildcard: it is only known after creation)."
  value       = local.group_arns
}

output "function_arn" {
  description = "ARN the Lambda function will have."
  value       = local.function_arn
}

output "log_group_arn" {
  description = "ARN of the Lambda's log group."
  value       = local.log_group_arn
}

output "dlq_arn" {
  description = "ARN the dead-letter queue will have."
  value       = local.dlq_arn
}

output "ecs_cluster_arn" {
  description = "ARN of the ECS cluster, \"\" when ecs.cluster_name is \"\"."
  value       = local.ecs_cluster_arn
}

output "pat_source" {
  description = "secretsmanager or ssm: where the gate reads the PAT (or, with agent_system = github, the GitHub token) from."
  value       = local.pat_service
}

output "global_timeout_seconds" {
  description = "The hook's global timeout: min(172800, 100 x heartbeat_timeout_seconds)."
  value       = local.global_timeout_seconds
}

output "schedule_expression" {
  description = "EventBridge schedule of the reconciler tick."
  value       = local.schedule_expression
}

output "lifecycle_event_pattern" {
  description = "EventBridge pattern (JSON) of the groups' terminate lifecycle actions for our hook."
  value       = jsonencode(local.lifecycle_event_pattern)
}

output "spot_event_pattern" {
  description = "EventBridge pattern (JSON) of Spot interruption warnings."
  value       = jsonencode(local.spot_event_pattern)
}

output "spot_rule_enabled" {
  description = "Whether the Spot interruption rule is created."
  value       = var.handle_spot_interruptions
}

output "environment" {
  description = "Lambda environment variables: the gate's settings. Sensitive because GATE_WEBHOOK_URL may embed a token."
  value       = local.environment
  sensitive   = true
}

output "policy_json" {
  description = "The Lambda role's least-privilege policy (JSON)."
  value       = jsonencode(local.policy_document)
}

output "policy_statement_sids" {
  description = "Sids of the statements in policy_json, in order."
  value       = [for s in local.enabled_statements : s.Sid]
}

output "assume_role_policy_json" {
  description = "Trust policy of the Lambda role (JSON)."
  value       = jsonencode(local.assume_role_policy_document)
}

output "hook" {
  description = "Settings of the lifecycle hook put on every group."
  value = {
    name                 = var.hook.name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = var.hook.heartbeat_timeout_seconds
    default_result       = var.hook.default_result
  }
}

output "lambda_timeout_seconds" {
  description = "Lambda timeout (tick budget plus headroom)."
  value       = var.lambda.timeout_seconds
}

output "failsafe_alarm" {
  description = "The fail-safe hold alarm: metric FailsafeHolds (one EMF line per invocation while an error keeps an instance waiting, gate/adapters/logs.py), alarmed when above 0 in every 5-minute period of failsafe_hold_alarm_minutes."
  value = {
    name               = local.names.failsafe_alarm
    metric_name        = "FailsafeHolds"
    statistic          = "Maximum"
    period             = 300
    evaluation_periods = var.monitoring.failsafe_hold_alarm_minutes / 5
  }
}

output "service_hook_policy_json" {
  description = "The service hook receiver's own role policy (JSON): its shared secret, its queue, its log group (and the queue's KMS key). Attach it to the receiver's role (service_hook.role_arn) when create_role = false. The re-check function's statements are in policy_json."
  value       = jsonencode(local.service_hook_policy_document)
}

output "service_hook" {
  description = "The service hook receiver's settings: enabled, names, secret ARN, reserved concurrency, coalescing window, and the environments of the receiver and of the re-check function."
  value = {
    enabled           = var.service_hook.enabled
    function_name     = local.names.service_hook_function
    log_group         = local.names.service_hook_log_group
    policy_name       = local.names.service_hook_policy
    role_name         = local.names.service_hook_role
    queue_name        = local.names.service_hook_queue
    queue_arn         = local.service_hook_queue_arn
    recheck_function  = local.names.recheck_function
    recheck_log_group = local.names.recheck_log_group
    secret_arn        = var.service_hook.secret_arn
    concurrency       = var.service_hook.concurrency
    window_seconds    = var.service_hook.window_seconds
    alarms = {
      errors           = local.names.service_hook_errors_alarm
      throttles        = local.names.service_hook_throttles_alarm
      recheck_errors   = local.names.recheck_errors_alarm
      recheck_forced   = local.names.recheck_forced_alarm
      recheck_decision = local.names.recheck_error_alarm
    }
    # The receiver needs none of the gate's settings; the queue URL is added where the queue exists.
    environment = {
      GATE_SERVICE_HOOK_SECRET_ARN = local.service_hook_secret_arn
      GATE_SECRET_CACHE_SECONDS    = tostring(var.agents.secret_cache_seconds)
      GATE_LOG_LEVEL               = var.monitoring.log_level
      GATE_METRICS_NAMESPACE       = var.monitoring.metrics_namespace
    }
    recheck_environment = { GATE_SERVICE_HOOK_WINDOW_SECONDS = tostring(var.service_hook.window_seconds) }
  }
}
