resource "aws_iam_role" "gate" {
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
  name   = module.core.names.policy
  role   = aws_iam_role.gate.id
  policy = module.core.policy_json
}
