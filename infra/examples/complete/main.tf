# The complete setup: an Auto Scaling group of ECS container instances behind an ECS capacity provider, running
# Azure DevOps agents as ECS tasks, and the termination gate on that group in the fail-safe posture. ECS Cluster
# Auto Scaling lowers the group's desired capacity when tasks go away; the gate's hook then holds the chosen
# instance until its agents are idle.
#
# Fail-safe posture: the hook's DefaultResult is ABANDON and the group retains instances whose terminate hook is
# abandoned (instance_lifecycle_policy, TerminateHookAbandon = retain). If the gate is down (heartbeats stop) or a
# hold reaches hold.max_seconds (hold.forced_result = ABANDON), the instance is kept in Terminating:Retained instead of
# being terminated under a running build; the gate's tick deletes the agents and terminates retained instances
# once their agents are idle.

data "aws_ssm_parameter" "ecs_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

resource "aws_launch_template" "agents" {
  name_prefix   = "${var.cluster_name}-"
  image_id      = data.aws_ssm_parameter.ecs_ami.value
  instance_type = var.instance_type

  iam_instance_profile {
    name = var.instance_profile_name
  }

  vpc_security_group_ids = var.security_group_ids

  metadata_options {
    http_tokens = "required"
  }

  user_data = base64encode(<<-EOT
    #!/bin/bash
    echo "ECS_CLUSTER=${var.cluster_name}" >> /etc/ecs/ecs.config
  EOT
  )
}

resource "aws_autoscaling_group" "agents" {
  name                = var.cluster_name
  min_size            = 0
  max_size            = var.max_size
  vpc_zone_identifier = var.subnet_ids

  launch_template {
    id      = aws_launch_template.agents.id
    version = "$Latest"
  }

  # Idle-first: Auto Scaling asks the gate's policy function which instances are idle (selection below), then its
  # Default policy chooses among them, or among all when the function cannot tell; the hook gates either way.
  termination_policies = [module.termination_gate.termination_policy_arn, "Default"]

  # Keep instances whose terminate hook is abandoned (the gate's DefaultResult and forced result below).
  instance_lifecycle_policy {
    retention_triggers {
      terminate_hook_abandon = "retain"
    }
  }

  # The capacity provider's managed scaling sets the desired capacity.
  lifecycle {
    ignore_changes = [desired_capacity]
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }
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
    auto_scaling_group_arn = aws_autoscaling_group.agents.arn

    # DISABLED on purpose, see the module README ("ECS managed termination protection / managed draining"):
    # - managed termination protection would set scale-in protection itself (and requires the group's
    #   new-instances-protected-from-scale-in); the gate's hook decides instead, from the agents' real state;
    # - managed draining adds its own hook (ecs-managed-draining-termination-hook) and sets DRAINING at once,
    #   which stops and replaces *service* tasks: an agent run as an ECS service would be killed mid-build.
    #   The gate sets DRAINING itself (ecs.drain = true) only after the agents are idle.
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
  # From a release instead of this checkout (v0.2.0 or later; v0.1 took one variable per setting):
  # source = "git::https://github.com/OWNER/asg-termination-gate.git//infra/modules/termination-gate?ref=v0.2.0"

  name                    = "${var.cluster_name}-gate"
  autoscaling_group_names = [aws_autoscaling_group.agents.name]

  # The package from S3 (plan needs no zip on this machine); or lambda_zip_path = "build/gate-lambda.zip".
  s3_bucket         = var.package_bucket
  s3_key            = var.package_key
  s3_object_version = var.package_version
  lambda = {
    runtime      = "python3.12"
    architecture = "arm64" # scripts/package_lambda.py --runtime python3.12 --arch arm64
  }

  azure_devops = {
    org_url        = var.azure_org_url
    pools          = var.pools
    pat_secret_arn = var.pat_secret_arn
  }
  # Agents started with EC2_INSTANCE_ID exported (from IMDS) report it as a capability: robust inside containers,
  # where the agent's ComputerName is the container's hostname, not the instance's.
  agents = {
    mapping         = "capability"
    capability_name = "EC2_INSTANCE_ID"
  }

  # Fail safe: a gate outage or a hold at hold.max_seconds keeps the instance (Terminating:Retained) rather than
  # terminating it under a build. Hold up to 4 h; 300 s heartbeats allow up to 100 x 300 s = 8.3 h.
  hook = {
    heartbeat_timeout_seconds = 300
    default_result            = "ABANDON"
  }
  hold = {
    max_seconds   = 14400
    forced_result = "ABANDON"
  }

  # After the agents are idle: container instance -> DRAINING, wait for the other tasks, then complete the hook.
  ecs = {
    cluster_name       = aws_ecs_cluster.agents.name
    drain              = true
    wait_tasks         = true
    ignore_task_groups = ["family:azp-agent"]
  }

  # The custom termination policy the group names first (termination_policies above): idle instances go first.
  selection = {
    enabled = true
  }

  monitoring = {
    create_alarm_topic = true
  }

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
