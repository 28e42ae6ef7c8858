# One terminating hook per group. Created last (depends_on): a scale-in between "hook exists" and "gate can
# receive the event" would otherwise wait out the heartbeat timeout. Destroyed first for the same reason.
resource "aws_autoscaling_lifecycle_hook" "gate" {
  for_each = toset(var.autoscaling_group_names)

  name                   = module.core.hook.name
  autoscaling_group_name = each.value
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = module.core.hook.heartbeat_timeout
  # Explicit: AWS's default is ABANDON. Applied when heartbeats stop (gate down) or at the global timeout.
  default_result = module.core.hook.default_result

  depends_on = [
    aws_cloudwatch_event_target.lifecycle,
    aws_cloudwatch_event_target.tick,
    aws_lambda_permission.lifecycle,
    aws_lambda_permission.tick,
  ]
}
