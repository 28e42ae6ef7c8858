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
#
# Every other alarm is one instance of aws_cloudwatch_metric_alarm.gate below, keyed as its resource was named
# before (moved.tf): local.alarms says what each watches (this file's; servicehook.tf's re-check decisions;
# audit.tf's builds killed), local.alarm_defaults what most share, and the resource what all share: above 0 in a
# period, missing data not breaching, the alarm actions, the tags. `enabled` adds the feature each needs to
# monitoring.create_alarms. A reference to an optional resource is a one(...[*]) splat: every entry is evaluated,
# also those not enabled.
locals {
  alarm_defaults = {
    namespace           = var.monitoring.metrics_namespace
    statistic           = "Sum"
    period              = 300
    evaluation_periods  = 1
    datapoints_to_alarm = null
  }
  alarms = merge(local.gate_alarms, local.recheck_alarms, local.audit_alarms)

  gate_alarms = {
    dlq_not_empty = {
      enabled     = var.create_dlq
      name        = module.core.names.dlq_alarm
      description = "${var.name}: invocations failed after all retries and went to the dead-letter queue ${module.core.names.dlq}."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = one(aws_sqs_queue.dlq[*].name) }
      statistic   = "Maximum"
    }

    # The gate writes one EMF line per decision: namespace monitoring.metrics_namespace, dimensions [["FunctionName", "Outcome"]]
    # (FunctionName = this deployment's Lambda, so two gates in one account never share an alarm), metric Decisions
    # (Count). "forced" = an instance reached hold.max_seconds and was completed with a build possibly running.
    forced_releases = {
      enabled     = true
      name        = module.core.names.forced_alarm
      description = "${var.name}: an instance was released at max hold (${var.hold.max_seconds} s) with its agents possibly still busy."
      metric_name = "Decisions"
      dimensions  = merge(module.core.metric_dimensions, { Outcome = "forced" })
    }

    # An "error" decision: the gate could not judge or act (a missing or mismatched hook, AWS or agent-system failures
    # it holds through). The invocation itself returns normally, so the Lambda Errors alarm does not see these.
    error_decisions = {
      enabled     = true
      name        = module.core.names.error_alarm
      description = "${var.name}: the gate logged error decisions (Outcome=error); query ${module.core.names.query_prefix}forced-and-error-decisions for the reasons."
      metric_name = "Decisions"
      dimensions  = merge(module.core.metric_dimensions, { Outcome = "error" })
    }

    # A fail-safe hold that persists: an error (agent system or one of its routes unavailable, credentials refused, ECS
    # unavailable, EC2 or tags failing) has kept an instance waiting for monitoring.failsafe_hold_alarm_minutes. The gate writes
    # FailsafeHolds (dimension FunctionName) every invocation while such a hold lasts, and nothing otherwise: a missing
    # period is a period without one. Every 5-minute period of the span must show one, so a single slow answer does not
    # page anyone, while a route gone for good does, long before max hold. No per-hold state is needed.
    failsafe_holds = {
      enabled             = true
      name                = module.core.failsafe_alarm.name
      description         = "${var.name}: an error has kept instances waiting for ${var.monitoring.failsafe_hold_alarm_minutes} minutes (fail-safe holds: no release until it is fixed, then max hold). The failsafe_holds log lines name the instances and causes; run gate doctor."
      metric_name         = module.core.failsafe_alarm.metric_name
      dimensions          = { FunctionName = module.gate_function.function_name }
      statistic           = module.core.failsafe_alarm.statistic
      period              = module.core.failsafe_alarm.period
      evaluation_periods  = module.core.failsafe_alarm.evaluation_periods
      datapoints_to_alarm = module.core.failsafe_alarm.evaluation_periods
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "gate" {
  for_each = var.monitoring.create_alarms ? {
    for key, alarm in local.alarms : key => merge(local.alarm_defaults, alarm) if alarm.enabled
  } : {}

  alarm_name          = each.value.name
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints_to_alarm
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
