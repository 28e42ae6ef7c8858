# The scheduled audit's input (issue 22): off by default, its event input, and the validations.

variables {
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["agents-a"]
  azure_devops = {
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux"]
    pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
  }
}

run "audit_off_by_default" {
  command = plan

  assert {
    condition     = output.audit.enabled == false && output.audit.schedule == "rate(1 hour)"
    error_message = "The audit must be opt-in, hourly when enabled."
  }

  assert {
    condition     = jsondecode(output.audit.input) == { "gate-audit" = { window_seconds = 86400 } }
    error_message = "The default window must be a day, in the key the function reads (gate.domain.audit)."
  }

  assert {
    condition     = output.audit.rule == "gate-audit" && output.audit.alarm == "gate-builds-killed-by-scale-in"
    error_message = "Audit names must derive from name."
  }
}

run "audit_enabled_cron_week" {
  command = plan
  variables {
    audit = {
      enabled              = true
      schedule             = "cron(0 6 * * ? *)"
      window_hours         = 168
      alarm_period_seconds = 86400
    }
  }

  assert {
    condition     = output.audit.enabled && jsondecode(output.audit.input)["gate-audit"].window_seconds == 604800
    error_message = "A week's window must reach the function in seconds."
  }
}

run "audit_schedule_must_be_an_expression" {
  command = plan
  variables {
    audit = { enabled = true, schedule = "hourly" }
  }
  expect_failures = [var.audit]
}

run "audit_window_at_most_a_week" {
  command = plan
  variables {
    audit = { window_hours = 169 }
  }
  expect_failures = [var.audit]
}

run "audit_alarm_period_in_minutes" {
  command = plan
  variables {
    audit = { alarm_period_seconds = 90 }
  }
  expect_failures = [var.audit]
}
