# Optional: the Azure DevOps service hook receiver (gate/servicehook.py). A second function from the same package,
# behind a Lambda function URL: Azure DevOps POSTs "Build completed" / "Run job state changed" to it, and each call
# with the shared secret runs one round of the tick at once (release in seconds instead of at the next poll). The
# payload is a trigger only: the round uses the same agent list and rules as the tick. Its reserved concurrency is
# its rate limit. Off by default; the tick alone is complete without it.

variable "service_hook" {
  description = "Create the Azure DevOps service hook receiver (function URL) so that a build end triggers a re-check at once."
  type        = bool
  default     = false
}

variable "service_hook_secret_arn" {
  description = "Secrets Manager ARN of the shared secret Azure DevOps sends (the web hook's basic-auth password). Required with service_hook."
  type        = string
  default     = null

  validation {
    condition     = var.service_hook_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", var.service_hook_secret_arn))
    error_message = "service_hook_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "service_hook_concurrency" {
  description = "Reserved concurrency of the service hook receiver: at most this many re-check rounds at once (its rate limit)."
  type        = number
  default     = 2

  validation {
    condition     = var.service_hook_concurrency >= 1 && var.service_hook_concurrency <= 10
    error_message = "service_hook_concurrency must be 1-10."
  }
}

locals {
  service_hook          = var.service_hook ? 1 : 0
  service_hook_function = "${module.core.names.function}-service-hook"
}

resource "aws_cloudwatch_log_group" "service_hook" {
  count = local.service_hook

  name              = "/aws/lambda/${local.service_hook_function}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# Same role as the gate (the round needs the same permissions), plus the hook secret and the hook's log group.
resource "aws_iam_role_policy" "service_hook" {
  count = var.service_hook && var.create_role ? 1 : 0

  name = "${module.core.names.policy}-service-hook"
  role = aws_iam_role.gate[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ServiceHookSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [var.service_hook_secret_arn]
      },
      {
        Sid      = "ServiceHookLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.service_hook[0].arn}:*"]
      },
    ]
  })
}

resource "aws_lambda_function" "service_hook" {
  count = local.service_hook

  function_name = local.service_hook_function
  description   = "Azure DevOps service hooks: a build end triggers one re-check round of the termination gate."
  role          = local.role_arn

  runtime       = var.lambda_runtime
  handler       = "gate.servicehook.handle"
  architectures = [var.lambda_architecture]
  timeout       = module.core.lambda_timeout_seconds
  memory_size   = var.lambda_memory_mb

  reserved_concurrent_executions = var.service_hook_concurrency

  filename          = var.lambda_zip_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : var.source_code_hash

  kms_key_arn = var.kms_key_arn

  environment {
    variables = merge(module.core.environment, { GATE_SERVICE_HOOK_SECRET_ARN = var.service_hook_secret_arn })
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

  lifecycle {
    precondition {
      condition     = var.service_hook_secret_arn != null
      error_message = "service_hook = true needs service_hook_secret_arn: the receiver refuses every call without a secret."
    }
  }

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
  description = "The function URL to give Azure DevOps (null unless service_hook)."
  value       = var.service_hook ? aws_lambda_function_url.service_hook[0].function_url : null
}

output "service_hook_subscription" {
  description = "What to enter in Azure DevOps (Project settings > Service hooks > Web Hooks), once per event type."
  value = var.service_hook ? {
    events                   = ["Build completed", "Run job state changed"]
    url                      = aws_lambda_function_url.service_hook[0].function_url
    basic_auth_username      = "gate"
    basic_auth_password      = "the value of ${var.service_hook_secret_arn}"
    resource_details_to_send = "Minimal"
    messages_to_send         = "None"
  } : null
}
