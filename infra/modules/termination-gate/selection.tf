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

resource "aws_lambda_function" "selection" {
  count = local.selection

  function_name = local.selection_function
  description   = "Termination gate: idle-first custom termination policy (answers Auto Scaling within 2 s)."
  role          = local.role_arn

  runtime       = var.lambda.runtime
  handler       = "gate.handler.select_instances"
  architectures = [var.lambda.architecture]
  timeout       = 2 # Auto Scaling's limit for a custom termination policy; the code answers after 1.2 s at most
  memory_size   = var.lambda.memory_mb

  reserved_concurrent_executions = var.selection.concurrency

  filename          = var.lambda_zip_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.lambda_zip_path != null ? filebase64sha256(var.lambda_zip_path) : var.source_code_hash

  kms_key_arn = var.kms_key_arn

  environment {
    variables = module.core.environment
  }

  dynamic "vpc_config" {
    for_each = length(var.vpc_subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.gate.name # the gate's: its role may write there, and nowhere else
  }

  tracing_config {
    mode = "PassThrough"
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.gate,
    aws_iam_role_policy.gate,
  ]
}

resource "aws_lambda_permission" "selection" {
  for_each = local.selection_invokers

  statement_id  = "AllowAutoScalingTerminationPolicy-${substr(sha256(each.value), 0, 8)}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.selection[0].function_name
  principal     = each.value
}
