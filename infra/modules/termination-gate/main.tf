data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# All names, ARNs, event patterns, the IAM policies, the Lambda environment and every settings validation come from
# this provider-free submodule (unit-tested offline with `terraform test`). The resources below only wire it up.
module "core" {
  source = "./modules/core"

  name       = var.name
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id # the region name in provider v5 and v6 (.name is deprecated in v6)
  account_id = data.aws_caller_identity.current.account_id

  autoscaling_group_names = var.autoscaling_group_names
  agent_system            = var.agent_system

  # The settings, as objects, straight through: core validates them (once) and builds the environment from them.
  hook          = var.hook
  tick          = var.tick
  hold          = var.hold
  tiers         = var.tiers
  agents        = var.agents
  azure_devops  = var.azure_devops
  github        = var.github
  gitlab        = var.gitlab
  ecs           = var.ecs
  notifications = var.notifications
  lambda        = var.lambda
  monitoring    = var.monitoring
  service_hook  = var.service_hook
  audit         = var.audit

  handle_spot_interruptions = var.handle_spot_interruptions
  kms_key_arn               = var.kms_key_arn
  create_dlq                = var.create_dlq
}
