# 5. Optional: the scheduled audit (var.audit, issue 22). The gate's function counts the builds scale-in killed over
# the last window from the agent system's job requests and the groups' scaling activities, and publishes
# BuildsKilledByScaleIn (should stay 0); the alarm fires above 0. `gate audit` gives the same count, and the holds'
# cost, from a shell.

# The input; validated once, in modules/core (modules/core/audit.tf).
variable "audit" {
  description = "The scheduled audit (`gate audit` in the function): enabled; schedule: an EventBridge schedule expression, rate(...) or cron(...) (default hourly); window_hours: how far back each run looks (1-168; a kill keeps the count above 0 for this long); alarm_period_seconds: the alarm's period, at least the schedule's interval (3600 for the hourly default, 60-86400, a multiple of 60). The run publishes BuildsKilledByScaleIn and BuildsLostOther (namespace monitoring.metrics_namespace, dimension FunctionName); with monitoring.create_alarms an alarm fires when a build was killed by scale-in. The function reads job requests with its own credential; a job's agent-lost message also needs the Build read scope (vso.build), without which the run counts from results and times only."
  type = object({
    enabled              = optional(bool, false)
    schedule             = optional(string, "rate(1 hour)")
    window_hours         = optional(number, 24)
    alarm_period_seconds = optional(number, 3600)
  })
  default  = {}
  nullable = false
}

# Its rule, target and permission: events.tf's, with this entry. A run that could not be delivered within the hour is
# superseded by the next one.
locals {
  audit_event_rules = {
    audit = {
      enabled               = module.core.audit.enabled
      name                  = module.core.audit.rule
      description           = "Scheduled kill-rate audit of ${var.name}"
      schedule_expression   = module.core.audit.schedule
      input                 = module.core.audit.input
      statement_id          = "AllowAuditRule"
      max_event_age_seconds = 3600
    }
  }
}

# Its alarm: aws_cloudwatch_metric_alarm.gate (monitoring.tf) with the entry below.
locals {
  audit_alarms = {
    builds_killed_by_scale_in = {
      enabled     = module.core.audit.enabled
      name        = module.core.audit.alarm
      description = "${var.name}: the scheduled audit found a build killed by scale-in (its agent's instance terminated while it ran). Run `gate audit` for the jobs and instances."
      metric_name = module.core.audit.metric_name
      dimensions  = { FunctionName = module.gate_function.function_name }
      statistic   = "Maximum"
      period      = module.core.audit.alarm_period_seconds
    }
  }
}
