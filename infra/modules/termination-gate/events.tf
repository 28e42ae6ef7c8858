# The EventBridge rules that invoke the gate's function, each with its target and its permission: one resource of
# each, an instance per rule, keyed as the resources were named before (moved.tf). What differs (a pattern or a
# schedule, the input, the retry policy, the permission's statement id) is data in local.event_rules; audit.tf adds
# its schedule. A rule whose retry policy is set is superseded by its next run: no retry, and an event older than
# max_event_age_seconds is dropped.
locals {
  event_rules = {
    # 1. The fast path: our groups' terminate lifecycle actions for our hook.
    lifecycle = {
      enabled       = true
      name          = module.core.names.lifecycle_rule
      description   = "EC2 Instance-terminate Lifecycle Action of the gated groups -> ${var.name}"
      event_pattern = module.core.lifecycle_event_pattern
      statement_id  = "AllowLifecycleRule"
    }

    # 2. The reconciler tick: finds every Terminating:Wait instance, also those whose event was lost. A tick that
    # could not be delivered within a minute is superseded by the next one.
    tick = {
      enabled               = true
      name                  = module.core.names.tick_rule
      description           = "Reconciler tick of ${var.name}"
      schedule_expression   = module.core.schedule_expression
      statement_id          = "AllowTickRule"
      max_event_age_seconds = 60
    }

    # 3. Optional: Spot interruption warnings (two minutes' notice; a hook cannot delay a Spot reclaim).
    spot = {
      enabled       = var.handle_spot_interruptions
      name          = module.core.names.spot_rule
      description   = "EC2 Spot Instance Interruption Warning -> ${var.name}"
      event_pattern = module.core.spot_event_pattern
      statement_id  = "AllowSpotRule"
    }
  }

  event_rule_defaults = { event_pattern = null, schedule_expression = null, input = null, max_event_age_seconds = null }
  gate_event_rules = {
    for key, rule in merge(local.event_rules, local.audit_event_rules) : key => merge(local.event_rule_defaults, rule)
    if rule.enabled
  }
}

resource "aws_cloudwatch_event_rule" "gate" {
  for_each = local.gate_event_rules

  name                = each.value.name
  description         = each.value.description
  event_pattern       = each.value.event_pattern
  schedule_expression = each.value.schedule_expression
  state               = "ENABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "gate" {
  for_each = local.gate_event_rules

  rule      = aws_cloudwatch_event_rule.gate[each.key].name
  target_id = "gate"
  arn       = module.gate_function.arn
  input     = each.value.input

  dynamic "retry_policy" {
    for_each = each.value.max_event_age_seconds == null ? [] : [each.value.max_event_age_seconds]
    content {
      maximum_event_age_in_seconds = retry_policy.value
      maximum_retry_attempts       = 0
    }
  }
}

resource "aws_lambda_permission" "gate" {
  for_each = local.gate_event_rules

  statement_id  = each.value.statement_id
  action        = "lambda:InvokeFunction"
  function_name = module.gate_function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.gate[each.key].arn
}
