# The dashboard and the Logs Insights queries, as data: the parent module only creates the resources.
#
# What the gate writes (gate/adapters/logs.py): one JSON line per decision (`"event": "decision"`, with Outcome, reason, group,
# instance, hook, agents, held_seconds), which is also an Embedded Metric Format record: metrics Decisions (Count)
# and HeldSeconds (Seconds) in var.monitoring.metrics_namespace, dimensions FunctionName (the Lambda's own name, so two gates in
# one account never share a metric or an alarm) and Outcome. Other lines name their event, e.g. round_cut_short.
# tests/infra/test_observability.py checks every field these queries use against real lines from a simulation.

locals {
  outcomes = ["held", "released", "forced", "gone", "skipped", "error", "spot"]

  # Logs Insights queries for the questions operators ask. Keys become query names "<name>/<key>".
  queries = {
    outcomes-over-time = join("\n| ", [
      "fields @timestamp, Outcome",
      "filter event = \"decision\"",
      "stats count(*) as decisions by bin(5m), Outcome",
      "sort @timestamp desc",
    ])
    longest-holds = join("\n| ", [
      "fields @timestamp, group, instance, Outcome, held_seconds, reason",
      "filter event = \"decision\" and ispresent(held_seconds)",
      "stats max(held_seconds) as longest_hold_seconds, latest(Outcome) as last_outcome, latest(reason) as last_reason by group, instance",
      "sort longest_hold_seconds desc",
      "limit 50",
    ])
    forced-and-error-decisions = join("\n| ", [
      "fields @timestamp, Outcome, group, instance, hook, held_seconds, tier, reason, request_id",
      "filter event = \"decision\" and Outcome in [\"forced\", \"error\"]",
      "sort @timestamp desc",
      "limit 200",
    ])
    rounds-cut-short = join("\n| ", [
      "fields @timestamp, event, reason, left, request_id",
      "filter event = \"round_cut_short\"",
      "sort @timestamp desc",
      "limit 200",
    ])
  }

  # Instances waiting on the hook: distinct instances with a "held" decision per 5 minutes (the gate logs a held
  # decision when the reason changes or an action is taken, and at least once per invocation per instance).
  waiting_query = join("\n| ", [
    "fields @timestamp, instance",
    "filter event = \"decision\" and Outcome = \"held\"",
    "stats count_distinct(instance) as waiting_instances by bin(5m)",
  ])

  metric_dimensions = ["FunctionName", local.names.function]

  # What every chart of the dashboard shares (the log widget has no period). jsonencode writes an object's keys in
  # sorted order, so the body does not depend on where a key comes from.
  chart = { region = var.region, view = "timeSeries", period = 300 }

  service_hook_widgets = [
    # The service hook (servicehook.tf): the re-check function's decisions as the gate's, and the receiver.
    {
      type = "metric", x = 0, y = 18, width = 12, height = 6
      properties = merge(local.chart, {
        title   = "Service hook: re-check decisions by outcome"
        stat    = "Sum"
        stacked = true
        metrics = [
          for o in local.outcomes : [var.monitoring.metrics_namespace, "Decisions", "FunctionName", local.names.recheck_function, "Outcome", o]
        ]
      })
    },
    {
      type = "metric", x = 12, y = 18, width = 12, height = 6
      properties = merge(local.chart, {
        title = "Service hook: receiver calls, errors, throttles; queue"
        stat  = "Sum"
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", local.names.service_hook_function],
          ["AWS/Lambda", "Errors", "FunctionName", local.names.service_hook_function],
          ["AWS/Lambda", "Throttles", "FunctionName", local.names.service_hook_function],
          ["AWS/Lambda", "Errors", "FunctionName", local.names.recheck_function, { label = "re-check errors" }],
          ["AWS/SQS", "NumberOfMessagesSent", "QueueName", local.names.service_hook_queue, { label = "re-checks queued" }],
        ]
      })
    },
  ]

  dashboard = {
    widgets = concat([
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = merge(local.chart, {
          title   = "Decisions by outcome"
          stat    = "Sum"
          stacked = true
          metrics = [
            for o in local.outcomes : concat([var.monitoring.metrics_namespace, "Decisions"], local.metric_dimensions, ["Outcome", o])
          ]
        })
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = merge(local.chart, {
          title = "Hold durations (seconds held when the hold ended)"
          metrics = [
            concat([var.monitoring.metrics_namespace, "HeldSeconds"], local.metric_dimensions, ["Outcome", "released", { stat = "Maximum", label = "released, max" }]),
            concat([var.monitoring.metrics_namespace, "HeldSeconds"], local.metric_dimensions, ["Outcome", "released", { stat = "Average", label = "released, average" }]),
            concat([var.monitoring.metrics_namespace, "HeldSeconds"], local.metric_dimensions, ["Outcome", "forced", { stat = "Maximum", label = "forced, max" }]),
          ]
        })
      },
      {
        type = "log", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Waiting instances (held, per 5 minutes)"
          region = var.region
          view   = "timeSeries"
          query  = "SOURCE '${local.names.log_group}'\n| ${local.waiting_query}"
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = merge(local.chart, {
          title = "Errors"
          stat  = "Sum"
          metrics = concat([
            concat([var.monitoring.metrics_namespace, "Decisions"], local.metric_dimensions, ["Outcome", "error", { label = "error decisions" }]),
            ["AWS/Lambda", "Errors", "FunctionName", local.names.function, { label = "Lambda errors" }],
            ], var.create_dlq ? [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.names.dlq, { stat = "Maximum", label = "DLQ messages" }],
          ] : [])
        })
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = merge(local.chart, {
          title = "Lambda duration (ms)"
          metrics = [
            ["AWS/Lambda", "Duration", "FunctionName", local.names.function, { stat = "Average", label = "average" }],
            ["AWS/Lambda", "Duration", "FunctionName", local.names.function, { stat = "Maximum", label = "max" }],
          ]
          annotations = {
            horizontal = [{ label = "timeout", value = var.lambda.timeout_seconds * 1000 }]
          }
        })
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = merge(local.chart, {
          title = "Lambda invocations and throttles"
          stat  = "Sum"
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", local.names.function],
            ["AWS/Lambda", "Throttles", "FunctionName", local.names.function],
          ]
        })
      },
    ], [for w in local.service_hook_widgets : w if var.service_hook.enabled])
  }
}

output "dashboard_body" {
  description = "CloudWatch dashboard body (JSON): decisions by outcome, hold durations, waiting instances, errors, Lambda duration and throttles."
  value       = jsonencode(local.dashboard)
}

output "queries" {
  description = "Logs Insights query definitions: query name -> query string (run against names.log_group)."
  value       = { for k, q in local.queries : "${local.names.query_prefix}${k}" => q }
}

output "metric_dimensions" {
  description = "Dimensions (besides Outcome) of the gate's EMF metrics: FunctionName = the Lambda's name."
  value       = { FunctionName = local.names.function }
}
