# 1. The fast path: our groups' terminate lifecycle actions for our hook.
resource "aws_cloudwatch_event_rule" "lifecycle" {
  name          = module.core.names.lifecycle_rule
  description   = "EC2 Instance-terminate Lifecycle Action of the gated groups -> ${var.name}"
  event_pattern = module.core.lifecycle_event_pattern
  state         = "ENABLED"
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "lifecycle" {
  rule      = aws_cloudwatch_event_rule.lifecycle.name
  target_id = "gate"
  arn       = module.gate_function.arn
}

resource "aws_lambda_permission" "lifecycle" {
  statement_id  = "AllowLifecycleRule"
  action        = "lambda:InvokeFunction"
  function_name = module.gate_function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.lifecycle.arn
}

# 2. The reconciler tick: finds every Terminating:Wait instance, also those whose event was lost.
resource "aws_cloudwatch_event_rule" "tick" {
  name                = module.core.names.tick_rule
  description         = "Reconciler tick of ${var.name}"
  schedule_expression = module.core.schedule_expression
  state               = "ENABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "tick" {
  rule      = aws_cloudwatch_event_rule.tick.name
  target_id = "gate"
  arn       = module.gate_function.arn

  # A tick that could not be delivered within a minute is superseded by the next one.
  retry_policy {
    maximum_event_age_in_seconds = 60
    maximum_retry_attempts       = 0
  }
}

resource "aws_lambda_permission" "tick" {
  statement_id  = "AllowTickRule"
  action        = "lambda:InvokeFunction"
  function_name = module.gate_function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.tick.arn
}

# 3. Optional: Spot interruption warnings (two minutes' notice; a hook cannot delay a Spot reclaim).
resource "aws_cloudwatch_event_rule" "spot" {
  count = var.handle_spot_interruptions ? 1 : 0

  name          = module.core.names.spot_rule
  description   = "EC2 Spot Instance Interruption Warning -> ${var.name}"
  event_pattern = module.core.spot_event_pattern
  state         = "ENABLED"
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "spot" {
  count = var.handle_spot_interruptions ? 1 : 0

  rule      = aws_cloudwatch_event_rule.spot[0].name
  target_id = "gate"
  arn       = module.gate_function.arn
}

resource "aws_lambda_permission" "spot" {
  count = var.handle_spot_interruptions ? 1 : 0

  statement_id  = "AllowSpotRule"
  action        = "lambda:InvokeFunction"
  function_name = module.gate_function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.spot[0].arn
}
