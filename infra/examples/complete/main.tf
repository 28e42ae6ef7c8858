# An existing Auto Scaling group behind an ECS capacity provider, its instances running Azure DevOps agents as ECS
# tasks, and the termination gate on that group. ECS Cluster Auto Scaling lowers the group's desired capacity when
# tasks go away; the gate's hook then holds the chosen instance until its agents are idle.

# The group exists already (launched elsewhere with the ECS-optimised AMI and ECS_CLUSTER=<cluster_name>).
data "aws_autoscaling_group" "agents" {
  name = var.autoscaling_group_name
}

resource "aws_ecs_cluster" "agents" {
  name = var.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_capacity_provider" "agents" {
  name = "${var.cluster_name}-asg"

  auto_scaling_group_provider {
    auto_scaling_group_arn = data.aws_autoscaling_group.agents.arn

    # DISABLED on purpose, see the module README ("ECS managed termination protection / managed draining"):
    # - managed termination protection would set scale-in protection itself (and requires the group's
    #   new-instances-protected-from-scale-in); the gate's hook decides instead, from the agents' real state;
    # - managed draining adds its own hook (ecs-managed-draining-termination-hook) and sets DRAINING at once,
    #   which stops and replaces *service* tasks: an agent run as an ECS service would be killed mid-build.
    #   The gate sets DRAINING itself (ecs_drain = true) only after the agents are idle.
    managed_termination_protection = "DISABLED"
    managed_draining               = "DISABLED"

    managed_scaling {
      status                    = "ENABLED"
      target_capacity           = 100
      minimum_scaling_step_size = 1
      maximum_scaling_step_size = 2
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "agents" {
  cluster_name       = aws_ecs_cluster.agents.name
  capacity_providers = [aws_ecs_capacity_provider.agents.name]

  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.agents.name
    weight            = 1
  }
}

module "termination_gate" {
  source = "../../modules/termination-gate"

  name                    = "${var.cluster_name}-gate"
  autoscaling_group_names = [data.aws_autoscaling_group.agents.name]
  lambda_zip_path         = var.lambda_zip_path

  azure_org_url  = var.azure_org_url
  pools          = var.pools
  pat_secret_arn = var.pat_secret_arn
  # Agents started with EC2_INSTANCE_ID exported (from IMDS) report it as a capability: robust inside containers,
  # where the agent's ComputerName is the container's hostname, not the instance's.
  mapping         = "capability"
  capability_name = "EC2_INSTANCE_ID"

  # Hold up to 4 h; heartbeat timeout 300 s allows up to 100 x 300 s = 8.3 h, and is > 3 ticks (180 s).
  heartbeat_timeout_seconds = 300
  max_hold_seconds          = 14400
  default_result            = "CONTINUE"
  forced_result             = "CONTINUE"

  # After the agents are idle: container instance -> DRAINING, then complete the hook.
  ecs_cluster_name = aws_ecs_cluster.agents.name
  ecs_drain        = true

  create_alarm_topic = true

  tags = {
    app = "azure-devops-agents"
  }
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = module.termination_gate.alarm_topic_arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
