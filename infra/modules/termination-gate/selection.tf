# Optional: idle-first selection (gate/service/selection.py; docs/features.md, "Idle-first selection"). Off by default
# (selection.enabled); the gate is complete without it.
#
#   scale-in --> Auto Scaling invokes this function (the group's first termination policy) with the capacity to remove
#   per zone and the instances it offers --> one agent list --> {"InstanceIDs": [the idle ones]} within 2 s, or every
#   instance offered when it cannot tell (the group's next policies choose) --> the chosen instance waits on the
#   gate's hook, judged as always.
#
# The same code and role as the gate (its agent credential, ec2:DescribeInstances, its logs: the function writes to
# the gate's log group, so one Logs Insights query sees both), another handler and a 2 s timeout: Auto Scaling gives
# a custom policy two seconds. The groups opt in themselves, with the output termination_policy_arn first:
# termination_policies = [module.gate.termination_policy_arn, "Default"].

locals {
  selection          = var.selection.enabled ? 1 : 0
  selection_function = "${module.core.names.function}-selection"
  # Auto Scaling invokes the policy as the group's service-linked role (EC2 Auto Scaling User Guide, "Create a
  # custom termination policy with Lambda"): the account's default one unless the groups use their own.
  selection_invokers = var.selection.enabled ? toset(
    length(var.selection.invoker_role_arns) > 0 ? var.selection.invoker_role_arns : [
      "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    ]
  ) : toset([])
}

module "selection_function" {
  source = "./modules/function"
  count  = local.selection

  function_name                  = local.selection_function
  description                    = "Termination gate: idle-first custom termination policy (answers Auto Scaling within 2 s)."
  role                           = local.role_arn
  handler                        = "gate.handler.select_instances"
  timeout                        = 2 # Auto Scaling's limit for a custom termination policy; the code answers after 1.2 s at most
  reserved_concurrent_executions = var.selection.concurrency
  environment                    = module.core.environment
  common                         = local.function_common

  # the gate's: its role may write there, and nowhere else
  log_group = { name = module.gate_function.log_group_name, create = false }

  depends_on = [aws_iam_role_policy.gate]
}

resource "aws_lambda_permission" "selection" {
  for_each = local.selection_invokers

  statement_id  = "AllowAutoScalingTerminationPolicy-${substr(sha256(each.value), 0, 8)}"
  action        = "lambda:InvokeFunction"
  function_name = module.selection_function[0].function_name
  principal     = each.value
}
