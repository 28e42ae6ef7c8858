# The optional scheduled audit (issue 22): the gate's function, invoked on a schedule with a constant input, counts
# the builds scale-in killed over the last window (gate.domain.audit) and publishes BuildsKilledByScaleIn; the
# parent module alarms above 0. Variable, names and event input live here so the audit's wiring reads in one place.

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

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\([^)]+\\))$", var.audit.schedule))
    error_message = "audit.schedule must be an EventBridge schedule expression: rate(N unit) or cron(...)."
  }

  validation {
    condition     = var.audit.window_hours >= 1 && var.audit.window_hours <= 168 && floor(var.audit.window_hours) == var.audit.window_hours
    error_message = "audit.window_hours must be a whole number of hours between 1 and 168 (a week)."
  }

  validation {
    condition     = var.audit.alarm_period_seconds >= 60 && var.audit.alarm_period_seconds <= 86400 && var.audit.alarm_period_seconds % 60 == 0
    error_message = "audit.alarm_period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

locals {
  audit = {
    enabled              = var.audit.enabled
    rule                 = "${var.name}-audit"
    alarm                = "${var.name}-builds-killed-by-scale-in"
    schedule             = var.audit.schedule
    alarm_period_seconds = var.audit.alarm_period_seconds
    metric_name          = "BuildsKilledByScaleIn"
    # The function tells an audit run from a tick by this key (gate.domain.audit.AUDIT_EVENT_KEY).
    input = jsonencode({ "gate-audit" = { window_seconds = var.audit.window_hours * 3600 } })
  }
}

output "audit" {
  description = "The scheduled audit's wiring: enabled, rule and alarm names, schedule, the event input, the metric and the alarm period."
  value       = local.audit
}
