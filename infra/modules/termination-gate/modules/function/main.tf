# One Lambda function of the gate's zip: the gate, the service hook receiver, its re-check function and the idle-first
# selection share everything here (code, runtime, architecture, memory, KMS key, VPC, tracing, tags) and differ only
# in the inputs (handler, timeout, concurrency, role, environment, description, log group, alarms).

resource "aws_cloudwatch_log_group" "this" {
  count = var.log_group.create ? 1 : 0

  name              = var.log_group.name
  retention_in_days = var.log_group.retention_in_days
  kms_key_id        = var.common.kms_key_arn
  tags              = var.common.tags
}

resource "aws_lambda_function" "this" {
  function_name = var.function_name
  description   = var.description
  role          = var.role

  runtime       = var.common.runtime
  handler       = var.handler
  architectures = [var.common.architecture]
  timeout       = var.timeout
  memory_size   = var.common.memory_size

  reserved_concurrent_executions = var.reserved_concurrent_executions

  # Either a local zip built by scripts/package_lambda.py (reproducible: same sources -> same hash -> no spurious
  # update) or an S3 object (then plan needs no zip here; source_code_hash or s3_object_version redeploys).
  filename          = var.common.code.zip_path
  s3_bucket         = var.common.code.s3_bucket
  s3_key            = var.common.code.s3_key
  s3_object_version = var.common.code.s3_object_version
  source_code_hash  = var.common.code.source_code_hash

  kms_key_arn = var.common.kms_key_arn

  environment {
    variables = var.environment
  }

  dynamic "vpc_config" {
    for_each = length(var.common.vpc.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.common.vpc.subnet_ids
      security_group_ids = var.common.vpc.security_group_ids
    }
  }

  # Only for a function without its own log group: it writes to the one named (its role may write there).
  dynamic "logging_config" {
    for_each = var.log_group.create ? [] : [1]
    content {
      log_format = "Text"
      log_group  = var.log_group.name
    }
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = var.common.tags

  # Its log group (with retention) must exist before the first invocation would auto-create one without. The
  # role's policy (and VPC access) come in through the module block's depends_on.
  depends_on = [aws_cloudwatch_log_group.this]
}

# Lambda's own Errors and Throttles of this function, one alarm per entry of var.alarms.
resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.alarms

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = "AWS/Lambda"
  metric_name         = each.key
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.common.alarm_actions
  ok_actions          = var.common.alarm_actions
  tags                = var.common.tags
}
