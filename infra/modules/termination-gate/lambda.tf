resource "aws_lambda_function" "gate" {
  function_name = module.core.names.function
  description   = "Holds Auto Scaling scale-in until the instance's Azure DevOps agents are idle."
  role          = aws_iam_role.gate.arn

  runtime       = "python3.12"
  handler       = "gate.handler.handle"
  architectures = ["x86_64"]
  # The tick re-checks for tick_budget_seconds (~50 s); the rest is headroom for the final completion calls.
  timeout     = module.core.lambda_timeout_seconds
  memory_size = var.lambda_memory_mb

  reserved_concurrent_executions = var.reserved_concurrent_executions

  # Built by scripts/package_lambda.py (reproducible: same sources -> same hash -> no spurious update).
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)

  kms_key_arn = var.kms_key_arn

  environment {
    variables = module.core.environment
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = var.tags

  # Our log group (with retention) must exist before the first invocation would auto-create one without.
  depends_on = [
    aws_cloudwatch_log_group.gate,
    aws_iam_role_policy.gate,
  ]
}

# EventBridge invokes asynchronously: few retries (the tick reconciles anyway), then the failure destination.
resource "aws_lambda_function_event_invoke_config" "gate" {
  function_name                = aws_lambda_function.gate.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }
}
