# Failed asynchronous invocations (after lambda.maximum_retry_attempts) land here, with the error and the event.
resource "aws_sqs_queue" "dlq" {
  count = var.create_dlq ? 1 : 0

  name                      = module.core.names.dlq
  message_retention_seconds = 1209600 # 14 days, the maximum
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

# --- alarms --------------------------------------------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  count = var.monitoring.create_alarm_topic ? 1 : 0

  name = module.core.names.alarm_topic
  # Only a customer managed key: CloudWatch alarms cannot publish to a topic under the AWS-managed alias/aws/sns
  # key (its key policy cannot grant cloudwatch.amazonaws.com). The CMK's policy must allow CloudWatch to use it.
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

locals {
  alarm_actions = (
    var.monitoring.create_alarm_topic ? [aws_sns_topic.alarms[0].arn] :
    var.monitoring.alarm_sns_topic_arn != null ? [var.monitoring.alarm_sns_topic_arn] : []
  )
}

# The Lambda Errors alarms of the gate and of the receiver's functions: in modules/function (lambda.tf, servicehook.tf).

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  count = var.monitoring.create_alarms && var.create_dlq ? 1 : 0

  alarm_name          = module.core.names.dlq_alarm
  alarm_description   = "${var.name}: invocations failed after all retries and went to the dead-letter queue ${module.core.names.dlq}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# The gate writes one EMF line per decision: namespace monitoring.metrics_namespace, dimensions [["FunctionName", "Outcome"]]
# (FunctionName = this deployment's Lambda, so two gates in one account never share an alarm), metric Decisions
# (Count). "forced" = an instance reached hold.max_seconds and was completed with a build possibly running.
resource "aws_cloudwatch_metric_alarm" "forced_releases" {
  count = var.monitoring.create_alarms ? 1 : 0

  alarm_name          = module.core.names.forced_alarm
  alarm_description   = "${var.name}: an instance was released at max hold (${var.hold.max_seconds} s) with its agents possibly still busy."
  namespace           = var.monitoring.metrics_namespace
  metric_name         = "Decisions"
  dimensions          = merge(module.core.metric_dimensions, { Outcome = "forced" })
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# An "error" decision: the gate could not judge or act (a missing or mismatched hook, AWS or agent-system failures
# it holds through). The invocation itself returns normally, so the Lambda Errors alarm does not see these.
resource "aws_cloudwatch_metric_alarm" "error_decisions" {
  count = var.monitoring.create_alarms ? 1 : 0

  alarm_name          = module.core.names.error_alarm
  alarm_description   = "${var.name}: the gate logged error decisions (Outcome=error); query ${module.core.names.query_prefix}forced-and-error-decisions for the reasons."
  namespace           = var.monitoring.metrics_namespace
  metric_name         = "Decisions"
  dimensions          = merge(module.core.metric_dimensions, { Outcome = "error" })
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# A fail-safe hold that persists: an error (agent system or one of its routes unavailable, credentials refused, ECS
# unavailable, EC2 or tags failing) has kept an instance waiting for monitoring.failsafe_hold_alarm_minutes. The gate writes
# FailsafeHolds (dimension FunctionName) every invocation while such a hold lasts, and nothing otherwise: a missing
# period is a period without one. Every 5-minute period of the span must show one, so a single slow answer does not
# page anyone, while a route gone for good does, long before max hold. No per-hold state is needed.
resource "aws_cloudwatch_metric_alarm" "failsafe_holds" {
  count = var.monitoring.create_alarms ? 1 : 0

  alarm_name          = module.core.failsafe_alarm.name
  alarm_description   = "${var.name}: an error has kept instances waiting for ${var.monitoring.failsafe_hold_alarm_minutes} minutes (fail-safe holds: no release until it is fixed, then max hold). The failsafe_holds log lines name the instances and causes; run gate doctor."
  namespace           = var.monitoring.metrics_namespace
  metric_name         = module.core.failsafe_alarm.metric_name
  dimensions          = { FunctionName = module.gate_function.function_name }
  statistic           = module.core.failsafe_alarm.statistic
  period              = module.core.failsafe_alarm.period
  evaluation_periods  = module.core.failsafe_alarm.evaluation_periods
  datapoints_to_alarm = module.core.failsafe_alarm.evaluation_periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# --- dashboard and Logs Insights queries (bodies built and tested in modules/core) ------------------------------

resource "aws_cloudwatch_dashboard" "gate" {
  count = var.monitoring.create_dashboard ? 1 : 0

  dashboard_name = module.core.names.dashboard
  dashboard_body = module.core.dashboard_body
}

resource "aws_cloudwatch_query_definition" "gate" {
  for_each = var.monitoring.create_query_definitions ? module.core.queries : {}

  name = each.key
  # With the service hook (servicehook.tf), its re-check function's decisions and the receiver's lines too.
  log_group_names = concat([module.gate_function.log_group_name], module.recheck_function[*].log_group_name, module.service_hook_function[*].log_group_name)
  query_string    = each.value
}
