# Optional: the Azure DevOps service hook receiver (gate/servicehook.py). A second function from the same package,
# behind a Lambda function URL: Azure DevOps POSTs "Build completed" / "Run job state changed" to it, and each call
# with the shared secret runs one round of the tick at once (release in seconds instead of at the next poll). The
# payload is a trigger only: the round uses the same agent list and rules as the tick. Its reserved concurrency is
# its rate limit. Off by default (service_hook.enabled); the tick alone is complete without it. Its input
# (var.service_hook), validations, names and extra policy come from modules/core like everything else.

locals {
  service_hook = var.service_hook.enabled ? 1 : 0
}

resource "aws_cloudwatch_log_group" "service_hook" {
  count = local.service_hook

  name              = module.core.service_hook.log_group
  retention_in_days = var.monitoring.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# Same role as the gate (the round needs the same permissions), plus the hook secret and the hook's log group: the
# policy is built with jsonencode in modules/core (tested there).
resource "aws_iam_role_policy" "service_hook" {
  count = var.service_hook.enabled && var.create_role ? 1 : 0

  name   = module.core.service_hook.policy_name
  role   = aws_iam_role.gate[0].id
  policy = module.core.service_hook_policy_json
}

resource "aws_lambda_function" "service_hook" {
  count = local.service_hook

  function_name = module.core.service_hook.function_name
  description   = "Azure DevOps service hooks: a build end triggers one re-check round of the termination gate."
  role          = local.role_arn

  runtime       = var.lambda.runtime
  handler       = "gate.servicehook.handle"
  architectures = [var.lambda.architecture]
  timeout       = module.core.lambda_timeout_seconds
  memory_size   = var.lambda.memory_mb

  reserved_concurrent_executions = module.core.service_hook.concurrency

  filename          = var.lambda_zip_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : var.source_code_hash

  kms_key_arn = var.kms_key_arn

  environment {
    variables = merge(module.core.environment, module.core.service_hook.environment)
  }

  dynamic "vpc_config" {
    for_each = length(var.vpc_subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.service_hook,
    aws_iam_role_policy.gate,
    aws_iam_role_policy.service_hook,
  ]
}

resource "aws_lambda_function_url" "service_hook" {
  count = local.service_hook

  function_name = aws_lambda_function.service_hook[0].function_name
  # Azure DevOps cannot sign AWS requests: the function checks the shared secret itself, in constant time.
  #checkov:skip=CKV_AWS_258:Azure DevOps web hooks cannot send SigV4; gate/servicehook.py checks a shared secret
  authorization_type = "NONE"
}

output "service_hook_url" {
  description = "The function URL to give Azure DevOps (null unless service_hook.enabled)."
  value       = var.service_hook.enabled ? aws_lambda_function_url.service_hook[0].function_url : null
}

output "service_hook_subscription" {
  description = "What to enter in Azure DevOps (Project settings > Service hooks > Web Hooks), once per event type."
  value = var.service_hook.enabled ? {
    events                   = ["Build completed", "Run job state changed"]
    url                      = aws_lambda_function_url.service_hook[0].function_url
    basic_auth_username      = "gate"
    basic_auth_password      = "the value of ${module.core.service_hook.secret_arn}"
    resource_details_to_send = "Minimal"
    messages_to_send         = "None"
  } : null
}

output "service_hook_policy_json" {
  description = "The service hook receiver's extra policy (JSON): its shared secret and its log group. Attach it to your own role when create_role = false and service_hook.enabled."
  value       = module.core.service_hook_policy_json
}
