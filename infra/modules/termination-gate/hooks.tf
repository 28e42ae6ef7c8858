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

  # The lifecycle and tick rules' targets and permissions (events.tf; depends_on names a resource, not an instance,
  # so the other rules' come too).
  depends_on = [
    aws_cloudwatch_event_target.gate,
    aws_lambda_permission.gate,
  ]
}
