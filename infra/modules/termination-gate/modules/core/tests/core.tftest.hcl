# Offline unit tests of the provider-free core: `terraform init && terraform test` in modules/core (< 1 s).
# Every run is a plan: the module has no resources, so every output is known at plan time.

variables {
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["agents-a", "agents-b"]
  azure_devops = {
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux", "linux-large"]
    pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
  }
}

# --- defaults -------------------------------------------------------------------------------------------------

run "defaults_environment" {
  command = plan

  assert {
    condition = output.environment == {
      GATE_AZURE_ORG_URL              = "https://dev.azure.com/contoso"
      GATE_POOLS                      = "linux,linux-large"
      GATE_MAPPING                    = "name"
      GATE_CAPABILITY_NAME            = "AWS_INSTANCE_ID"
      GATE_PAT_SECRET_ARN             = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
      GATE_GROUPS                     = "agents-a,agents-b"
      GATE_HOOK_NAME                  = "asg-termination-gate"
      GATE_MAX_HOLD_SECONDS           = "14400"
      GATE_IDLE_CONFIRM_SECONDS       = "15"
      GATE_UNREGISTERED_GRACE_SECONDS = "300"
      GATE_DELETE_AGENT_ON_RELEASE    = "true"
      GATE_DRY_RUN                    = "false"
      GATE_RECHECK_INTERVAL_SECONDS   = "10"
      GATE_TICK_BUDGET_SECONDS        = "50"
      GATE_FORCED_RESULT              = "CONTINUE"
      GATE_HEARTBEAT_INTERVAL_SECONDS = "60"
      GATE_LOG_LEVEL                  = "INFO"
      GATE_METRICS_NAMESPACE          = "AsgTerminationGate"
      GATE_PROTECT_BUSY               = "false"
      GATE_ECS_CLUSTER                = ""
      GATE_ECS_DRAIN                  = "false"
      GATE_WEBHOOK_URL                = ""
      GATE_HOLD_NOTIFY_SECONDS        = "3600"
      GATE_AGENT_SYSTEM               = "azure-devops"
      GATE_GITHUB_API_URL             = "https://api.github.com"
      GATE_GITHUB_ORG                 = ""
      GATE_GITHUB_REPOS               = ""
      GATE_GITHUB_TOKEN_SECRET_ARN    = ""
      GATE_GITLAB_URL                 = "https://gitlab.com"
      GATE_GITLAB_TOKEN_SECRET_ARN    = ""
      GATE_GITLAB_RUNNERS             = "owned"
      GATE_GITLAB_TAG_LIST            = ""
      GATE_GROUP_POOLS                = "{}"
      GATE_CHECK_JOB_REQUESTS         = "true"
      GATE_HTTP_TIMEOUT_SECONDS       = "10"
      GATE_MAX_RETRY_AFTER_SECONDS    = "20"
      GATE_ECS_WAIT_TASKS             = "false"
      GATE_ECS_IGNORE_TASK_GROUPS     = ""
      GATE_WEBHOOK_FORMAT             = "slack"
      GATE_WEBHOOK_TIMEOUT_SECONDS    = "3"
      GATE_ASSIGNMENT_LAG_SECONDS     = "60"
      GATE_AZURE_AUTH                 = "pat"
      GATE_ENTRA_SECRET_ARN           = ""
      GATE_ENTRA_AUTHORITY_HOST       = "https://login.microsoftonline.com"
      GATE_AZURE_API_VERSION          = "7.1"
      GATE_SECRET_CACHE_SECONDS       = "300"
      GATE_TIERS                      = "[]"
      GATE_HEARTBEAT_CONCURRENCY      = "16"
      GATE_AGENT_CONCURRENCY          = "8"
      GATE_INVOCATION_MARGIN_SECONDS  = "5"
    }
    error_message = "The Lambda environment does not carry the gate's defaults under the exact GATE_* names."
  }

  assert {
    condition = output.hook == {
      name                 = "asg-termination-gate"
      lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
      heartbeat_timeout    = 300
      default_result       = "CONTINUE"
    }
    error_message = "Hook defaults wrong: DefaultResult must be explicit (AWS defaults to ABANDON)."
  }

  assert {
    condition     = output.global_timeout_seconds == 30000 && output.schedule_expression == "rate(1 minute)"
    error_message = "Global timeout must be min(172800, 100 x 300) and the tick rate(1 minute)."
  }

  assert {
    condition     = output.lambda_timeout_seconds == 70
    error_message = "Lambda timeout must default to 70 s."
  }
}

run "names_and_arns" {
  command = plan

  assert {
    condition = output.group_arns == [
      "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/agents-a",
      "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/agents-b",
    ]
    error_message = "Group ARN patterns wrong."
  }

  assert {
    condition = (
      output.names.log_group == "/aws/lambda/gate" &&
      output.names.dlq == "gate-dlq" &&
      output.names.lifecycle_rule == "gate-lifecycle" &&
      output.names.tick_rule == "gate-tick" &&
      output.names.spot_rule == "gate-spot" &&
      output.function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:gate" &&
      output.dlq_arn == "arn:aws:sqs:eu-west-1:123456789012:gate-dlq" &&
      output.log_group_arn == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/gate"
    )
    error_message = "Names/ARNs wrong."
  }
}

run "event_patterns" {
  command = plan

  assert {
    condition = jsondecode(output.lifecycle_event_pattern) == {
      source        = ["aws.autoscaling"]
      "detail-type" = ["EC2 Instance-terminate Lifecycle Action"]
      account       = ["123456789012"]
      detail = {
        AutoScalingGroupName = ["agents-a", "agents-b"]
        LifecycleHookName    = ["asg-termination-gate"]
      }
    }
    error_message = "Lifecycle event pattern wrong."
  }

  assert {
    condition = jsondecode(output.spot_event_pattern) == {
      source        = ["aws.ec2"]
      "detail-type" = ["EC2 Spot Instance Interruption Warning"]
      account       = ["123456789012"]
    }
    error_message = "Spot event pattern wrong."
  }

  assert {
    condition     = output.spot_rule_enabled == false
    error_message = "Spot handling must default to off."
  }
}

# --- IAM ------------------------------------------------------------------------------------------------------

run "policy_default_exact" {
  command = plan

  assert {
    condition = output.policy_statement_sids == [
      "ReadAutoScaling",
      "SendToOwnDlq",
      "ReadInstances",
      "CompleteOwnLifecycleActions",
      "WriteOwnLogs",
      "ReadPatSecret",
      "TagOwnInstancesGateKeysOnly",
      "TerminateOwnRetainedInstances",
    ]
    error_message = "Default policy must hold exactly these statements (no ECS, no protection, no SSM, no KMS)."
  }

  assert {
    condition = jsondecode(output.policy_json) == {
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = "ReadAutoScaling"
          Effect   = "Allow"
          Action   = ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLifecycleHooks", "autoscaling:DescribeScalingActivities", "autoscaling:DescribeWarmPool"]
          Resource = "*"
        },
        {
          Sid      = "SendToOwnDlq"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = "arn:aws:sqs:eu-west-1:123456789012:gate-dlq"
        },
        {
          Sid      = "ReadInstances"
          Effect   = "Allow"
          Action   = ["ec2:DescribeInstances"]
          Resource = "*"
        },
        {
          Sid    = "CompleteOwnLifecycleActions"
          Effect = "Allow"
          Action = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
          Resource = [
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/agents-a",
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/agents-b",
          ]
        },
        {
          Sid      = "WriteOwnLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/gate:*"
        },
        {
          Sid      = "ReadPatSecret"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
        },
        {
          Sid      = "TagOwnInstancesGateKeysOnly"
          Effect   = "Allow"
          Action   = ["ec2:CreateTags"]
          Resource = "arn:aws:ec2:eu-west-1:123456789012:instance/*"
          Condition = {
            "ForAllValues:StringLike" = { "aws:TagKeys" = ["gate:*"] }
            Null                      = { "aws:TagKeys" = "false" }
            StringEquals              = { "aws:ResourceTag/aws:autoscaling:groupName" = ["agents-a", "agents-b"] }
          }
        },
        {
          Sid      = "TerminateOwnRetainedInstances"
          Effect   = "Allow"
          Action   = ["ec2:TerminateInstances"]
          Resource = "arn:aws:ec2:eu-west-1:123456789012:instance/*"
          Condition = {
            StringEquals = { "aws:ResourceTag/aws:autoscaling:groupName" = ["agents-a", "agents-b"] }
          }
        },
      ]
    }
    error_message = "Default policy document differs from the reviewed least-privilege policy."
  }

  # The invariant, independent of the exact document: "*" only on read actions.
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(output.policy_json).Statement : [
        for a in s.Action : can(regex("^[a-z0-9]+:(Describe|List|Get)", a))
      ] if contains(flatten([s.Resource]), "*")
    ]))
    error_message = "A mutating action has Resource \"*\"."
  }

  assert {
    condition     = jsondecode(output.assume_role_policy_json).Statement[0].Principal.Service == "lambda.amazonaws.com"
    error_message = "Only Lambda may assume the role."
  }
}

run "policy_ssm_with_kms_ecs_protection" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab"
    hold = {
      protect_busy = true
    }
    agents = {
      secret_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
    azure_devops = {
      pat_secret_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/ado/pat"
      org_url        = "https://dev.azure.com/contoso"
      pools          = ["linux", "linux-large"]
    }
    ecs = {
      cluster_name = "agents"
      drain        = true
    }
  }

  assert {
    condition = output.policy_statement_sids == [
      "ReadAutoScaling",
      "SendToOwnDlq",
      "EncryptDlqMessages",
      "ReadInstances",
      "DrainClusterContainerInstances",
      "DescribeClusterTasks",
      "ListClusterContainerInstances",
      "ListClusterTasks",
      "CompleteOwnLifecycleActions",
      "WriteOwnLogs",
      "DecryptPatViaItsService",
      "ReadPatParameter",
      "ProtectBusyInstances",
      "TagOwnInstancesGateKeysOnly",
      "TerminateOwnRetainedInstances",
    ]
    error_message = "SSM + KMS + ECS + protection must add exactly their statements and drop ReadPatSecret."
  }

  assert {
    condition = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "ReadPatParameter"]) == {
      Sid      = "ReadPatParameter"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter"]
      Resource = "arn:aws:ssm:eu-west-1:123456789012:parameter/ado/pat"
    }
    error_message = "ssm:GetParameter must be granted on the one parameter."
  }

  assert {
    condition = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "DecryptPatViaItsService"]) == {
      Sid       = "DecryptPatViaItsService"
      Effect    = "Allow"
      Action    = ["kms:Decrypt"]
      Resource  = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      Condition = { StringEquals = { "kms:ViaService" = "ssm.eu-west-1.amazonaws.com" } }
    }
    error_message = "kms:Decrypt must be limited to the PAT key, via SSM."
  }

  assert {
    condition     = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "DrainClusterContainerInstances"]).Resource == "arn:aws:ecs:eu-west-1:123456789012:container-instance/agents/*"
    error_message = "UpdateContainerInstancesState must be scoped to the cluster's container instances."
  }

  assert {
    condition = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "ListClusterTasks"]).Condition == {
      ArnEquals = { "ecs:cluster" = "arn:aws:ecs:eu-west-1:123456789012:cluster/agents" }
    }
    error_message = "ListTasks must be conditioned on the cluster."
  }

  assert {
    condition = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "ProtectBusyInstances"]).Resource == [
      "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/agents-a",
      "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/agents-b",
    ]
    error_message = "SetInstanceProtection must be scoped to the groups."
  }

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(output.policy_json).Statement : [
        for a in s.Action : can(regex("^[a-z0-9]+:(Describe|List|Get)", a))
      ] if contains(flatten([s.Resource]), "*")
    ]))
    error_message = "A mutating action has Resource \"*\"."
  }

  assert {
    condition     = output.pat_source == "ssm" && output.environment.GATE_ECS_CLUSTER == "agents" && output.environment.GATE_ECS_DRAIN == "true" && output.environment.GATE_PROTECT_BUSY == "true"
    error_message = "Environment must follow the ECS/protection settings."
  }
}

run "secret_partial_arn_gets_suffix_wildcard" {
  command = plan

  variables {
    agents = {
      secret_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
    azure_devops = {
      pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat"
      org_url        = "https://dev.azure.com/contoso"
      pools          = ["linux", "linux-large"]
    }
  }

  assert {
    condition     = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "ReadPatSecret"]).Resource == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-??????"
    error_message = "A partial secret ARN must get the -?????? suffix wildcard."
  }

  assert {
    condition     = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "DecryptPatViaItsService"]).Condition.StringEquals["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    error_message = "kms:Decrypt must be limited to Secrets Manager for a secret."
  }

  assert {
    condition     = output.environment.GATE_PAT_SECRET_ARN == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat"
    error_message = "The gate gets the ARN as given."
  }
}

run "other_partition_and_settings" {
  command = plan

  variables {
    partition                 = "aws-us-gov"
    region                    = "us-gov-west-1"
    handle_spot_interruptions = true
    hook = {
      heartbeat_timeout_seconds = 3600
      default_result            = "ABANDON"
    }
    hold = {
      max_seconds                = 172800
      forced_result              = "ABANDON"
      dry_run                    = true
      delete_agent_on_release    = false
      heartbeat_interval_seconds = 120
    }
    agents = {
      mapping         = "capability"
      capability_name = "EC2_INSTANCE_ID"
    }
    azure_devops = {
      pat_secret_arn = "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:pat-AbC123"
      org_url        = "https://dev.azure.com/contoso"
      pools          = ["linux", "linux-large"]
    }
    notifications = {
      webhook_url = "https://hooks.example.com/T000/B000/XXXX"
    }
    monitoring = {
      log_level = "DEBUG"
    }
  }

  assert {
    condition     = startswith(output.group_arns[0], "arn:aws-us-gov:autoscaling:us-gov-west-1:")
    error_message = "Partition must flow into the ARNs."
  }

  assert {
    condition     = output.global_timeout_seconds == 172800 && output.hook.default_result == "ABANDON"
    error_message = "Global timeout is capped at 48 h."
  }

  assert {
    condition = (
      output.environment.GATE_MAPPING == "capability" &&
      output.environment.GATE_CAPABILITY_NAME == "EC2_INSTANCE_ID" &&
      output.environment.GATE_FORCED_RESULT == "ABANDON" &&
      output.environment.GATE_MAX_HOLD_SECONDS == "172800" &&
      output.environment.GATE_DRY_RUN == "true" &&
      output.environment.GATE_DELETE_AGENT_ON_RELEASE == "false" &&
      output.environment.GATE_HEARTBEAT_INTERVAL_SECONDS == "120" &&
      output.environment.GATE_LOG_LEVEL == "DEBUG" &&
      output.environment.GATE_WEBHOOK_URL == "https://hooks.example.com/T000/B000/XXXX"
    )
    error_message = "Settings must flow into the environment."
  }

  assert {
    condition     = output.spot_rule_enabled
    error_message = "Spot handling must follow handle_spot_interruptions."
  }
}

# --- validations (expect_failures) -----------------------------------------------------------------------------

run "heartbeat_below_aws_minimum" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 29
    }
  }
  expect_failures = [var.hook]
}

run "heartbeat_above_aws_maximum" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 7201
    }
    hold = {
      max_seconds = 3600
    }
  }
  expect_failures = [var.hook]
}

run "heartbeat_not_above_three_ticks" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 180
    }
    hold = {
      max_seconds                = 3600
      heartbeat_interval_seconds = 30
    }
  }
  expect_failures = [var.hook]
}

run "heartbeat_just_above_three_ticks_is_fine" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 181
    }
    hold = {
      max_seconds = 18100
    }
  }
  assert {
    condition     = output.global_timeout_seconds == 18100
    error_message = "181 s is the smallest valid heartbeat timeout; max hold 100 x 181 is allowed."
  }
}

run "max_hold_above_100_heartbeats" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 300
    }
    hold = {
      max_seconds = 30001
    }
  }
  expect_failures = [var.hold]
}

run "max_hold_above_48h" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 7200
    }
    hold = {
      max_seconds = 172801
    }
  }
  expect_failures = [var.hold]
}

run "heartbeat_interval_too_close_to_timeout" {
  command = plan
  variables {
    hook = {
      heartbeat_timeout_seconds = 300
    }
    hold = {
      heartbeat_interval_seconds = 181
    }
  }
  expect_failures = [var.hold]
}

run "bad_default_result" {
  command = plan
  variables {
    hook = {
      default_result = "TERMINATE"
    }
  }
  expect_failures = [var.hook]
}

run "bad_forced_result" {
  command = plan
  variables {
    hold = {
      forced_result = "continue"
    }
  }
  expect_failures = [var.hold]
}

run "bad_mapping" {
  command = plan
  variables {
    agents = {
      mapping = "tag"
    }
  }
  expect_failures = [var.agents]
}

run "org_url_must_be_https" {
  command = plan
  variables {
    azure_devops = {
      org_url        = "http://dev.azure.com/contoso"
      pools          = ["linux", "linux-large"]
      pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
    }
  }
  expect_failures = [var.azure_devops]
}

run "pools_must_not_be_empty" {
  command = plan
  variables {
    azure_devops = {
      pools          = []
      org_url        = "https://dev.azure.com/contoso"
      pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
    }
  }
  expect_failures = [var.azure_devops]
}

run "pool_names_without_commas" {
  command = plan
  variables {
    azure_devops = {
      pools          = ["a,b"]
      org_url        = "https://dev.azure.com/contoso"
      pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
    }
  }
  expect_failures = [var.azure_devops]
}

run "group_pools_reach_the_environment" {
  command = plan
  variables {
    agents = {
      group_pools = { "agents-a" = ["linux"], "agents-b" = ["linux", "linux-large"] }
    }
  }
  assert {
    condition     = jsondecode(output.environment.GATE_GROUP_POOLS) == { "agents-a" = ["linux"], "agents-b" = ["linux", "linux-large"] }
    error_message = "group_pools must reach the gate as JSON (GATE_GROUP_POOLS)."
  }
}

# --- priority tiers (GATE_TIERS, gate/domain/tiers.py) ---------------------------------------------------------

run "tiers_reach_the_environment" {
  command = plan
  variables {
    hook = { heartbeat_timeout_seconds = 1800 }
    tiers = [
      { name = "release", max_hold_seconds = 172800, forced_result = "ABANDON", plan_type = ["Release"] },
      { name = "pr", max_hold_seconds = 1800, forced_result = "CONTINUE", pipeline = ["*-pr"] },
    ]
  }
  assert {
    condition = jsondecode(output.environment.GATE_TIERS) == [
      { name = "release", max_hold_seconds = 172800, forced_result = "ABANDON", pipeline = [], plan_type = ["Release"], branch = [], stage = [], job = [], demands = [], labels = [] },
      { name = "pr", max_hold_seconds = 1800, forced_result = "CONTINUE", pipeline = ["*-pr"], plan_type = [], branch = [], stage = [], job = [], demands = [], labels = [] },
    ]
    error_message = "tiers must reach the gate as a JSON list (GATE_TIERS), in order."
  }
}

run "tiers_hold_within_the_hooks_global_timeout" {
  command = plan
  variables {
    tiers = [{ name = "release", max_hold_seconds = 172800, forced_result = "ABANDON" }]
  }
  expect_failures = [var.tiers]
}

run "tiers_forced_result_is_a_lifecycle_result" {
  command = plan
  variables {
    tiers = [{ name = "pr", max_hold_seconds = 1800, forced_result = "KEEP" }]
  }
  expect_failures = [var.tiers]
}

run "tiers_names_unique_and_not_default" {
  command = plan
  variables {
    tiers = [
      { name = "pr", max_hold_seconds = 1800, forced_result = "CONTINUE" },
      { name = "pr", max_hold_seconds = 3600, forced_result = "CONTINUE" },
    ]
  }
  expect_failures = [var.tiers]
}

run "tiers_no_default_name" {
  command = plan
  variables {
    tiers = [{ name = "default", max_hold_seconds = 1800, forced_result = "CONTINUE" }]
  }
  expect_failures = [var.tiers]
}

run "tiers_no_empty_pattern" {
  command = plan
  variables {
    tiers = [{ name = "pr", max_hold_seconds = 1800, forced_result = "CONTINUE", branch = [""] }]
  }
  expect_failures = [var.tiers]
}

run "group_pools_only_configured_groups" {
  command = plan
  variables {
    agents = {
      group_pools = { "agents-c" = ["linux"] }
    }
  }
  expect_failures = [var.agents]
}

run "group_pools_only_configured_pools" {
  command = plan
  variables {
    agents = {
      group_pools = { "agents-a" = ["windows"] }
    }
  }
  expect_failures = [var.agents]
}

run "group_pools_not_empty" {
  command = plan
  variables {
    agents = {
      group_pools = { "agents-a" = [] }
    }
  }
  expect_failures = [var.agents]
}

run "groups_must_not_be_empty" {
  command = plan
  variables {
    autoscaling_group_names = []
  }
  expect_failures = [var.autoscaling_group_names]
}

run "pat_arn_must_be_secret_or_parameter" {
  command = plan
  variables {
    azure_devops = {
      pat_secret_arn = "arn:aws:s3:::bucket/pat"
      org_url        = "https://dev.azure.com/contoso"
      pools          = ["linux", "linux-large"]
    }
  }
  expect_failures = [var.azure_devops]
}

run "kms_alias_is_not_a_key_arn" {
  command = plan
  variables {
    agents = {
      secret_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:alias/pat"
    }
  }
  expect_failures = [var.agents]
}

run "tick_budget_needs_headroom_in_timeout" {
  command = plan
  variables {
    tick = {
      budget_seconds = 51
    }
  }
  expect_failures = [var.tick]
}

run "recheck_interval_within_budget" {
  command = plan
  variables {
    tick = {
      recheck_interval_seconds = 0
    }
  }
  expect_failures = [var.tick]
}

run "ecs_drain_needs_cluster" {
  command = plan
  variables {
    ecs = {
      drain = true
    }
  }
  expect_failures = [var.ecs]
}

run "webhook_must_be_https" {
  command = plan
  variables {
    notifications = {
      webhook_url = "http://hooks.example.com/x"
    }
  }
  expect_failures = [var.notifications]
}

run "hook_name_not_ecs_managed" {
  command = plan
  variables {
    hook = {
      name = "ecs-managed-draining-termination-hook"
    }
  }
  expect_failures = [var.hook]
}

run "negative_seconds_rejected" {
  command = plan
  variables {
    hold = {
      idle_confirm_seconds       = -1
      unregistered_grace_seconds = 86401
    }
    notifications = {
      hold_notify_seconds = -5
    }
  }
  expect_failures = [var.hold, var.notifications]
}

run "log_level_enum" {
  command = plan
  variables {
    monitoring = {
      log_level = "TRACE"
    }
  }
  expect_failures = [var.monitoring]
}

run "metrics_namespace_not_aws" {
  command = plan
  variables {
    monitoring = {
      metrics_namespace = "AWS/Lambda"
    }
  }
  expect_failures = [var.monitoring]
}

run "resource_settings_ranges" {
  command = plan
  variables {
    lambda = {
      memory_mb                      = 64
      reserved_concurrent_executions = 0
      maximum_retry_attempts         = 3
      maximum_event_age_seconds      = 30
    }
    monitoring = {
      log_retention_days = 31
    }
  }
  expect_failures = [var.lambda, var.monitoring]
}

run "alarm_topic_either_created_or_given" {
  command = plan
  variables {
    monitoring = {
      create_alarm_topic  = true
      alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:ops"
    }
  }
  expect_failures = [var.monitoring]
}

# --- fleet features: GitHub runners, ECS task waiting, webhook format ---------------------------------------------

run "github_runners_read_the_token_secret" {
  command = plan

  variables {
    agent_system = "github"
    agents = {
      group_pools = { "agents-a" = ["acme"], "agents-b" = ["acme/web"] }
    }
    azure_devops = {
      org_url        = ""
      pools          = []
      pat_secret_arn = ""
    }
    github = {
      org              = "acme"
      repos            = ["acme/ci", "acme/web"]
      token_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh/token-XyZ789"
    }
  }

  assert {
    condition = (
      output.environment.GATE_AGENT_SYSTEM == "github" &&
      output.environment.GATE_GITHUB_ORG == "acme" &&
      output.environment.GATE_GITHUB_REPOS == "acme/ci,acme/web" &&
      output.environment.GATE_GITHUB_TOKEN_SECRET_ARN == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh/token-XyZ789" &&
      output.environment.GATE_PAT_SECRET_ARN == "" && output.environment.GATE_POOLS == "" &&
      jsondecode(output.environment.GATE_GROUP_POOLS) == { "agents-a" = ["acme"], "agents-b" = ["acme/web"] }
    )
    error_message = "The GitHub settings must reach the gate."
  }

  assert {
    condition     = one([for s in jsondecode(output.policy_json).Statement : s if s.Sid == "ReadPatSecret"]).Resource == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gh/token-XyZ789"
    error_message = "With agent_system = github the secret read is the GitHub token's, and only that one."
  }
}

run "fleet_settings_reach_the_environment" {
  command = plan

  variables {
    hold = {
      check_job_requests = false
    }
    agents = {
      http_timeout_seconds    = 5
      max_retry_after_seconds = 0
    }
    ecs = {
      cluster_name       = "agents"
      drain              = true
      wait_tasks         = true
      ignore_task_groups = ["service:datadog-agent", "family:azp-*"]
    }
    notifications = {
      webhook_format          = "json"
      webhook_timeout_seconds = 2
    }
  }

  assert {
    condition = (
      output.environment.GATE_ECS_WAIT_TASKS == "true" &&
      output.environment.GATE_ECS_IGNORE_TASK_GROUPS == "service:datadog-agent,family:azp-*" &&
      output.environment.GATE_WEBHOOK_FORMAT == "json" &&
      output.environment.GATE_WEBHOOK_TIMEOUT_SECONDS == "2" &&
      output.environment.GATE_CHECK_JOB_REQUESTS == "false" &&
      output.environment.GATE_HTTP_TIMEOUT_SECONDS == "5" &&
      output.environment.GATE_MAX_RETRY_AFTER_SECONDS == "0"
    )
    error_message = "The fleet settings must reach the gate."
  }
}

run "agent_system_known" {
  command = plan
  variables {
    agent_system = "jenkins"
  }
  expect_failures = [var.agent_system]
}

run "azure_devops_needs_its_settings" {
  command = plan
  variables {
    azure_devops = {
      org_url        = ""
      pools          = []
      pat_secret_arn = ""
    }
  }
  expect_failures = [var.azure_devops]
}

run "github_needs_a_scope_and_a_token" {
  command = plan
  variables {
    agent_system = "github"
    azure_devops = {
      org_url        = ""
      pools          = []
      pat_secret_arn = ""
    }
    github = {
      repos = ["not-a-repo"]
    }
  }
  expect_failures = [var.github]
}

run "github_scope_required" {
  command = plan
  variables {
    agent_system = "github"
    azure_devops = {
      org_url        = ""
      pools          = []
      pat_secret_arn = ""
    }
    github = {
      token_secret_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/gh/token"
      api_url          = "http://ghe.example.com/api/v3"
    }
  }
  expect_failures = [var.github]
}

run "ecs_wait_tasks_needs_drain" {
  command = plan
  variables {
    ecs = {
      cluster_name       = "agents"
      wait_tasks         = true
      ignore_task_groups = ["a,b"]
    }
  }
  expect_failures = [var.ecs]
}

run "webhook_and_http_ranges" {
  command = plan
  variables {
    agents = {
      http_timeout_seconds    = 0
      max_retry_after_seconds = 301
    }
    notifications = {
      webhook_format          = "xml"
      webhook_timeout_seconds = 30
      hold_notify_seconds     = 200000
    }
  }
  expect_failures = [var.notifications, var.agents]
}

# --- observability ----------------------------------------------------------------------------------------------

run "dashboard_and_queries_are_per_deployment" {
  command = plan

  variables {
    name = "gate-blue"
    monitoring = {
      metrics_namespace = "Ci/Gates"
    }
  }

  assert {
    condition = keys(output.queries) == [
      "gate-blue/forced-and-error-decisions",
      "gate-blue/longest-holds",
      "gate-blue/outcomes-over-time",
      "gate-blue/rounds-cut-short",
    ]
    error_message = "One saved query per operator question, named after the deployment."
  }

  assert {
    condition     = output.metric_dimensions == { FunctionName = "gate-blue" } && output.names.error_alarm == "gate-blue-error-decisions"
    error_message = "Metrics and alarms must carry the deployment's FunctionName dimension."
  }

  assert {
    condition = alltrue([
      for w in jsondecode(output.dashboard_body).widgets : alltrue([
        for m in try(w.properties.metrics, []) :
        m[0] != "Ci/Gates" || (m[2] == "FunctionName" && m[3] == "gate-blue" && m[4] == "Outcome")
      ])
    ])
    error_message = "Every gate metric on the dashboard must be this deployment's (FunctionName, Outcome)."
  }

  assert {
    condition     = length(jsondecode(output.dashboard_body).widgets) == 6 && strcontains(jsondecode(output.dashboard_body).widgets[2].properties.query, "SOURCE '/aws/lambda/gate-blue'")
    error_message = "Dashboard: six widgets; the waiting-instances log widget reads this deployment's log group."
  }
}

run "no_dlq_no_dlq_permissions" {
  command = plan

  variables {
    create_dlq  = false
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = !contains(output.policy_statement_sids, "SendToOwnDlq") && !contains(output.policy_statement_sids, "EncryptDlqMessages")
    error_message = "Without the DLQ the role must not be allowed to send to (or encrypt for) it."
  }

  assert {
    condition     = !strcontains(output.dashboard_body, "ApproximateNumberOfMessagesVisible")
    error_message = "Without the DLQ the dashboard must not chart it."
  }
}

run "entra_auth_reads_the_service_principal_secret_not_a_pat" {
  command = plan

  variables {
    azure_devops = {
      auth             = "entra"
      pat_secret_arn   = ""
      entra_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/entra-AbC123"
      org_url          = "https://dev.azure.com/contoso"
      pools            = ["linux", "linux-large"]
    }
  }

  assert {
    condition     = output.environment.GATE_AZURE_AUTH == "entra" && output.environment.GATE_ENTRA_SECRET_ARN == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/entra-AbC123"
    error_message = "azure_auth = entra must reach the Lambda with the service principal's secret ARN."
  }

  assert {
    condition     = strcontains(output.policy_json, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/entra-AbC123")
    error_message = "The role must be allowed to read the service principal's secret."
  }
}

run "entra_auth_without_its_secret_is_refused" {
  command = plan

  variables {
    azure_devops = {
      auth           = "entra"
      pat_secret_arn = ""
      org_url        = "https://dev.azure.com/contoso"
      pools          = ["linux", "linux-large"]
    }
  }

  expect_failures = [var.azure_devops]
}

# --- fail-safe holds that persist are alarmed (issue 18) ---------------------------------------------------------

run "failsafe_alarm_defaults_to_three_five_minute_periods" {
  command = plan

  assert {
    condition = output.failsafe_alarm == {
      name               = "gate-failsafe-holds"
      metric_name        = "FailsafeHolds"
      statistic          = "Maximum"
      period             = 300
      evaluation_periods = 3
    }
    error_message = "FailsafeHolds above 0 for 15 minutes (three 5-minute periods) by default"
  }
}

run "failsafe_alarm_minutes_set_the_periods" {
  command = plan
  variables {
    monitoring = {
      failsafe_hold_alarm_minutes = 60
    }
  }

  assert {
    condition     = output.failsafe_alarm.evaluation_periods == 12
    error_message = "60 minutes are twelve 5-minute periods"
  }
}

run "failsafe_alarm_minutes_validated" {
  command = plan
  variables {
    monitoring = {
      failsafe_hold_alarm_minutes = 7
    }
  }
  expect_failures = [var.monitoring]
}

run "failsafe_alarm_minutes_at_most_a_day" {
  command = plan
  variables {
    monitoring = {
      failsafe_hold_alarm_minutes = 1445
    }
  }
  expect_failures = [var.monitoring]
}

# --- the service hook receiver (issue 15): its input, names and extra policy ---------------------------------------

run "service_hook_policy_is_its_secret_its_queue_and_its_log_group" {
  command = plan

  variables {
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
    }
  }

  assert {
    condition = jsondecode(output.service_hook_policy_json) == {
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = "ServiceHookSecret"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"]
        },
        {
          Sid      = "ServiceHookQueue"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = ["arn:aws:sqs:eu-west-1:123456789012:gate-recheck.fifo"]
        },
        {
          Sid      = "ServiceHookLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/gate-service-hook:*"]
        },
      ]
    }
    error_message = "The receiver's own policy: its shared secret, its queue and its own log group, nothing else."
  }

  assert {
    condition = (
      output.service_hook.function_name == "gate-service-hook" &&
      output.service_hook.role_name == "gate-service-hook" &&
      output.service_hook.recheck_function == "gate-recheck" &&
      output.service_hook.queue_name == "gate-recheck.fifo" &&
      output.service_hook.concurrency == 2 &&
      output.service_hook.window_seconds == 5 &&
      output.service_hook.environment.GATE_SERVICE_HOOK_SECRET_ARN == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123" &&
      !contains(keys(output.service_hook.environment), "GATE_PAT_SECRET_ARN") &&
      output.service_hook.recheck_environment == { GATE_SERVICE_HOOK_WINDOW_SECONDS = "5" }
    )
    error_message = "The receiver's names, default reserved concurrency and window, and an environment without the gate's credentials."
  }

  assert {
    condition = (
      [for s in jsondecode(output.policy_json).Statement : s if s.Sid == "TakeServiceHookRechecks"][0].Resource == "arn:aws:sqs:eu-west-1:123456789012:gate-recheck.fifo" &&
      [for s in jsondecode(output.policy_json).Statement : s if s.Sid == "WriteRecheckLogs"][0].Resource == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/gate-recheck:*" &&
      !strcontains(output.policy_json, "ado/hook")
    )
    error_message = "The gate's role takes the re-check queue and writes the re-check function's logs; it never reads the hook secret."
  }
}

run "service_hook_dashboard_widgets" {
  command = plan

  variables {
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
    }
  }

  assert {
    condition = (
      length(jsondecode(output.dashboard_body).widgets) == 8 &&
      contains(jsondecode(output.dashboard_body).widgets[6].properties.metrics[0], "gate-recheck") &&
      contains(jsondecode(output.dashboard_body).widgets[7].properties.metrics[2], "Throttles")
    )
    error_message = "With the service hook, the dashboard shows the re-check function's decisions and the receiver's calls, errors and throttles."
  }
}

run "without_the_service_hook_the_gate_policy_has_no_recheck_statements" {
  command = plan

  assert {
    condition     = !strcontains(output.policy_json, "recheck") && length(jsondecode(output.dashboard_body).widgets) == 6
    error_message = "The re-check statements and dashboard widgets exist only with service_hook.enabled."
  }
}

run "service_hook_partial_secret_arn_and_kms" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook"
    }
  }

  assert {
    condition = (
      jsondecode(output.service_hook_policy_json).Statement[0].Resource == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-??????"] &&
      jsondecode(output.service_hook_policy_json).Statement[3].Sid == "ServiceHookQueueKms" &&
      jsondecode(output.service_hook_policy_json).Statement[3].Condition.StringEquals["kms:ViaService"] == "sqs.eu-west-1.amazonaws.com"
    )
    error_message = "A partial secret ARN gets the -?????? suffix; the queue's KMS key only via SQS."
  }
}

run "service_hook_window_is_bounded" {
  command = plan
  variables {
    service_hook = {
      enabled        = true
      secret_arn     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
      window_seconds = 0
    }
  }
  expect_failures = [var.service_hook]
}

run "service_hook_needs_a_secret_and_a_sane_concurrency" {
  command = plan
  variables {
    service_hook = {
      enabled     = true
      concurrency = 0
    }
  }
  expect_failures = [var.service_hook]
}
