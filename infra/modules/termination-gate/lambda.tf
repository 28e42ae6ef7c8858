# What the four functions of the gate's zip (the gate; selection.tf's and servicehook.tf's) share: modules/function.
locals {
  function_common = {
    runtime       = var.lambda.runtime
    architecture  = var.lambda.architecture
    memory_size   = var.lambda.memory_mb
    kms_key_arn   = var.kms_key_arn
    tags          = var.tags
    alarm_actions = local.alarm_actions
    code = {
      zip_path          = var.lambda_zip_path
      s3_bucket         = var.s3_bucket
      s3_key            = var.s3_key
      s3_object_version = var.s3_object_version
      source_code_hash  = var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : var.source_code_hash
    }
    vpc = {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }
}

module "gate_function" {
  source = "./modules/function"

  function_name = module.core.names.function
  description   = "Holds Auto Scaling scale-in until the instance's Azure DevOps agents are idle."
  role          = local.role_arn
  handler       = "gate.handler.handle"
  # The tick re-checks for tick.budget_seconds (~50 s); the rest is headroom for the final completion calls.
  timeout                        = module.core.lambda_timeout_seconds
  reserved_concurrent_executions = var.lambda.reserved_concurrent_executions
  environment                    = module.core.environment
  common                         = local.function_common

  log_group = {
    name              = module.core.names.log_group
    create            = true
    retention_in_days = var.monitoring.log_retention_days
  }
  # Any unhandled error of the gate (its own failures, not Azure DevOps outages it holds through).
  alarms = var.monitoring.create_alarms ? {
    Errors = {
      name        = module.core.names.errors_alarm
      description = "${var.name}: the gate Lambda raised errors. Held instances keep waiting only until the hook's heartbeat timeout."
    }
  } : {}

  # The role's policy (and VPC access) before the first invocation needs them.
  depends_on = [
    aws_iam_role_policy.gate,
    aws_iam_role_policy_attachment.vpc,
  ]
}

# EventBridge invokes asynchronously: few retries (the tick reconciles anyway), then the failure destination.
resource "aws_lambda_function_event_invoke_config" "gate" {
  function_name                = module.gate_function.function_name
  maximum_retry_attempts       = var.lambda.maximum_retry_attempts
  maximum_event_age_in_seconds = var.lambda.maximum_event_age_seconds

  dynamic "destination_config" {
    for_each = var.create_dlq ? [1] : []
    content {
      on_failure {
        destination = aws_sqs_queue.dlq[0].arn
      }
    }
  }
}
