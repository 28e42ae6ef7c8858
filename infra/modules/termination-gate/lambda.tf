resource "aws_lambda_function" "gate" {
  function_name = module.core.names.function
  description   = "Holds Auto Scaling scale-in until the instance's Azure DevOps agents are idle."
  role          = local.role_arn

  runtime       = var.lambda.runtime
  handler       = "gate.handler.handle"
  architectures = [var.lambda.architecture]
  # The tick re-checks for tick.budget_seconds (~50 s); the rest is headroom for the final completion calls.
  timeout     = module.core.lambda_timeout_seconds
  memory_size = var.lambda.memory_mb

  reserved_concurrent_executions = var.lambda.reserved_concurrent_executions

  # Either a local zip built by scripts/package_lambda.py (reproducible: same sources -> same hash -> no spurious
  # update) or an S3 object (then plan needs no zip here; source_code_hash or s3_object_version redeploys).
  filename          = var.lambda_zip_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : var.source_code_hash

  kms_key_arn = var.kms_key_arn

  environment {
    variables = module.core.environment
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

  # Our log group (with retention) must exist before the first invocation would auto-create one without; the
  # role's policy (and VPC access) before the first invocation needs them.
  depends_on = [
    aws_cloudwatch_log_group.gate,
    aws_iam_role_policy.gate,
    aws_iam_role_policy_attachment.vpc,
  ]
}

# EventBridge invokes asynchronously: few retries (the tick reconciles anyway), then the failure destination.
resource "aws_lambda_function_event_invoke_config" "gate" {
  function_name                = aws_lambda_function.gate.function_name
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
