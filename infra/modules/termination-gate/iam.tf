# The Lambda's role, unless the caller brings one (create_role = false, role_arn): then attach the policy_json
# output to that role yourself.
resource "aws_iam_role" "gate" {
  count = var.create_role ? 1 : 0

  name                 = module.core.names.role
  description          = "asg-termination-gate Lambda (${var.name})"
  assume_role_policy   = module.core.assume_role_policy_json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# The least-privilege policy, built with jsonencode in modules/core (tested there): lifecycle actions and optional
# scale-in protection on the group ARNs only, gate:* tags on the groups' instances only, the one PAT secret or
# parameter, its own log group and DLQ, and (optionally) one ECS cluster. "*" only on Describe-type reads.
resource "aws_iam_role_policy" "gate" {
  count = var.create_role ? 1 : 0

  name   = module.core.names.policy
  role   = aws_iam_role.gate[0].id
  policy = module.core.policy_json
}

# In a VPC, Lambda creates and deletes the function's network interfaces through its role: AWS's managed policy
# for exactly that (ec2:*NetworkInterface* and the address assignment calls, which take no resource ARNs).
resource "aws_iam_role_policy_attachment" "vpc" {
  count = var.create_role && length(var.vpc_subnet_ids) > 0 ? 1 : 0

  role       = aws_iam_role.gate[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

locals {
  role_arn = var.create_role ? aws_iam_role.gate[0].arn : var.role_arn
}
