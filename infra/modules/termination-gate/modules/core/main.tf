locals {
  arn = "arn:${var.partition}"

  # --- names ----------------------------------------------------------------------------------------------------
  names = {
    function       = var.name
    role           = var.name
    policy         = "${var.name}-least-privilege"
    log_group      = "/aws/lambda/${var.name}"
    dlq            = "${var.name}-dlq"
    lifecycle_rule = "${var.name}-lifecycle"
    tick_rule      = "${var.name}-tick"
    spot_rule      = "${var.name}-spot"
    alarm_topic    = "${var.name}-alarms"
    errors_alarm   = "${var.name}-lambda-errors"
    dlq_alarm      = "${var.name}-dlq-not-empty"
    forced_alarm   = "${var.name}-forced-releases"
    error_alarm    = "${var.name}-error-decisions"
    failsafe_alarm = "${var.name}-failsafe-holds"
    dashboard      = var.name
    query_prefix   = "${var.name}/"
    # The optional service hook receiver (var.service_hook): a thin function behind the function URL with its own
    # role and log group, the FIFO queue it hands re-checks to, and the re-check function (the gate's code and
    # role, reserved concurrency 1) that takes the queue and runs the coalesced rounds.
    service_hook_function        = "${var.name}-service-hook"
    service_hook_log_group       = "/aws/lambda/${var.name}-service-hook"
    service_hook_policy          = "${var.name}-least-privilege-service-hook"
    service_hook_role            = "${var.name}-service-hook"
    service_hook_queue           = "${var.name}-recheck.fifo"
    recheck_function             = "${var.name}-recheck"
    recheck_log_group            = "/aws/lambda/${var.name}-recheck"
    service_hook_errors_alarm    = "${var.name}-service-hook-errors"
    service_hook_throttles_alarm = "${var.name}-service-hook-throttles"
    recheck_errors_alarm         = "${var.name}-recheck-errors"
    recheck_forced_alarm         = "${var.name}-recheck-forced-releases"
    recheck_error_alarm          = "${var.name}-recheck-error-decisions"
  }

  # --- ARNs (computed from names, so the policy is known before anything exists) --------------------------------
  group_arns = [
    for g in var.autoscaling_group_names :
    "${local.arn}:autoscaling:${var.region}:${var.account_id}:autoScalingGroup:*:autoScalingGroupName/${g}"
  ]
  function_arn     = "${local.arn}:lambda:${var.region}:${var.account_id}:function:${local.names.function}"
  log_group_arn    = "${local.arn}:logs:${var.region}:${var.account_id}:log-group:${local.names.log_group}"
  dlq_arn          = "${local.arn}:sqs:${var.region}:${var.account_id}:${local.names.dlq}"
  instance_arns    = "${local.arn}:ec2:${var.region}:${var.account_id}:instance/*"
  ecs_enabled      = var.ecs.cluster_name != ""
  ecs_cluster_arn  = local.ecs_enabled ? "${local.arn}:ecs:${var.region}:${var.account_id}:cluster/${var.ecs.cluster_name}" : ""
  ecs_instance_arn = local.ecs_enabled ? "${local.arn}:ecs:${var.region}:${var.account_id}:container-instance/${var.ecs.cluster_name}/*" : ""
  ecs_task_arn     = local.ecs_enabled ? "${local.arn}:ecs:${var.region}:${var.account_id}:task/${var.ecs.cluster_name}/*" : ""

  # The agent system's credential (the Azure DevOps PAT, the Entra service principal's secret with azure_auth = entra,
  # the GitHub token with agent_system = github, or the GitLab token with agent_system = gitlab):
  # arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE. A Secrets Manager ARN given without its random 6-character
  # suffix (a "partial ARN") gets the documented "-??????" wildcard so GetSecretValue still matches.
  token_secret_arn = var.agent_system == "github" ? var.github.token_secret_arn : var.agent_system == "gitlab" ? var.gitlab.token_secret_arn : (var.azure_devops.auth == "entra" ? var.azure_devops.entra_secret_arn : var.azure_devops.pat_secret_arn)
  pat_arn_parts    = split(":", local.token_secret_arn)
  pat_service      = try(local.pat_arn_parts[2], "")
  pat_region       = try(local.pat_arn_parts[3], "")
  pat_is_secret    = local.pat_service == "secretsmanager"
  pat_has_suffix   = can(regex("-[A-Za-z0-9]{6}$", local.token_secret_arn))
  pat_resource     = local.pat_is_secret && !local.pat_has_suffix ? "${local.token_secret_arn}-??????" : local.token_secret_arn

  # --- hook arithmetic --------------------------------------------------------------------------------------------
  global_timeout_seconds = min(172800, 100 * var.hook.heartbeat_timeout_seconds)
  schedule_expression    = var.tick.interval_seconds == 60 ? "rate(1 minute)" : "rate(${var.tick.interval_seconds / 60} minutes)"

  # --- event patterns ---------------------------------------------------------------------------------------------
  # Only our groups' and our hook's terminate actions: ECS managed draining's hook on the same group emits the same
  # detail-type and must not wake the gate. The gate re-checks group and hook itself (forged/foreign events).
  lifecycle_event_pattern = {
    source        = ["aws.autoscaling"]
    "detail-type" = ["EC2 Instance-terminate Lifecycle Action"]
    account       = [var.account_id]
    detail = {
      AutoScalingGroupName = var.autoscaling_group_names
      LifecycleHookName    = [var.hook.name]
    }
  }

  # Spot warnings carry only detail.instance-id: the gate filters them against its groups.
  spot_event_pattern = {
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Spot Instance Interruption Warning"]
    account       = [var.account_id]
  }

  # --- the Lambda's environment: every gate setting as GATE_<NAME> (gate/settings.py reads the GATE_ prefix) -----------
  environment = {
    GATE_AZURE_ORG_URL              = var.azure_devops.org_url
    GATE_POOLS                      = join(",", var.azure_devops.pools)
    GATE_MAPPING                    = var.agents.mapping
    GATE_CAPABILITY_NAME            = var.agents.capability_name
    GATE_PAT_SECRET_ARN             = var.azure_devops.pat_secret_arn
    GATE_GROUPS                     = join(",", var.autoscaling_group_names)
    GATE_HOOK_NAME                  = var.hook.name
    GATE_MAX_HOLD_SECONDS           = tostring(var.hold.max_seconds)
    GATE_IDLE_CONFIRM_SECONDS       = tostring(var.hold.idle_confirm_seconds)
    GATE_UNREGISTERED_GRACE_SECONDS = tostring(var.hold.unregistered_grace_seconds)
    GATE_DELETE_AGENT_ON_RELEASE    = tostring(var.hold.delete_agent_on_release)
    GATE_DRY_RUN                    = tostring(var.hold.dry_run)
    GATE_RECHECK_INTERVAL_SECONDS   = tostring(var.tick.recheck_interval_seconds)
    GATE_TICK_BUDGET_SECONDS        = tostring(var.tick.budget_seconds)
    GATE_FORCED_RESULT              = var.hold.forced_result
    GATE_HEARTBEAT_INTERVAL_SECONDS = tostring(var.hold.heartbeat_interval_seconds)
    GATE_LOG_LEVEL                  = var.monitoring.log_level
    GATE_METRICS_NAMESPACE          = var.monitoring.metrics_namespace
    GATE_PROTECT_BUSY               = tostring(var.hold.protect_busy)
    GATE_ECS_CLUSTER                = var.ecs.cluster_name
    GATE_ECS_DRAIN                  = tostring(var.ecs.drain)
    GATE_WEBHOOK_URL                = var.notifications.webhook_url
    GATE_HOLD_NOTIFY_SECONDS        = tostring(var.notifications.hold_notify_seconds)
    GATE_AGENT_SYSTEM               = var.agent_system
    GATE_GITHUB_API_URL             = var.github.api_url
    GATE_GITHUB_ORG                 = var.github.org
    GATE_GITHUB_REPOS               = join(",", var.github.repos)
    GATE_GITHUB_TOKEN_SECRET_ARN    = var.github.token_secret_arn
    GATE_GITLAB_URL                 = var.gitlab.url
    GATE_GITLAB_TOKEN_SECRET_ARN    = var.gitlab.token_secret_arn
    GATE_GITLAB_RUNNERS             = var.gitlab.runners
    GATE_GITLAB_TAG_LIST            = join(",", var.gitlab.tag_list)
    GATE_GROUP_POOLS                = jsonencode(var.agents.group_pools)
    GATE_CHECK_JOB_REQUESTS         = tostring(var.hold.check_job_requests)
    GATE_HTTP_TIMEOUT_SECONDS       = tostring(var.agents.http_timeout_seconds)
    GATE_MAX_RETRY_AFTER_SECONDS    = tostring(var.agents.max_retry_after_seconds)
    GATE_ECS_WAIT_TASKS             = tostring(var.ecs.wait_tasks)
    GATE_ECS_IGNORE_TASK_GROUPS     = join(",", var.ecs.ignore_task_groups)
    GATE_WEBHOOK_FORMAT             = var.notifications.webhook_format
    GATE_WEBHOOK_TIMEOUT_SECONDS    = tostring(var.notifications.webhook_timeout_seconds)
    GATE_ASSIGNMENT_LAG_SECONDS     = tostring(var.hold.assignment_lag_seconds)
    GATE_AZURE_AUTH                 = var.azure_devops.auth
    GATE_ENTRA_SECRET_ARN           = var.azure_devops.entra_secret_arn
    GATE_ENTRA_AUTHORITY_HOST       = var.azure_devops.entra_authority_host
    GATE_AZURE_API_VERSION          = var.azure_devops.api_version
    GATE_SECRET_CACHE_SECONDS       = tostring(var.agents.secret_cache_seconds)
    GATE_TIERS                      = jsonencode(var.tiers)
    # Liveness (docs/liveness.md): thread pools for heartbeats and Azure DevOps work, and the stop margin before the
    # Lambda timeout (the gate reads the remaining time from the invocation's context).
    GATE_HEARTBEAT_CONCURRENCY     = "16"
    GATE_AGENT_CONCURRENCY         = "8"
    GATE_INVOCATION_MARGIN_SECONDS = "5"
  }

  # --- IAM: least privilege ---------------------------------------------------------------------------------------
  # Each statement is a literal here (tests/infra parses these lists); policy_statement_enabled picks the ones that
  # apply. "*" appears only on read actions that support no resource-level permissions in AWS.
  policy_statements = {
    lifecycle_actions = {
      Sid    = "CompleteOwnLifecycleActions"
      Effect = "Allow"
      Action = [
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
      ]
      Resource = local.group_arns
    }
    scale_in_protection = {
      Sid      = "ProtectBusyInstances"
      Effect   = "Allow"
      Action   = ["autoscaling:SetInstanceProtection"]
      Resource = local.group_arns
    }
    autoscaling_read = {
      Sid    = "ReadAutoScaling"
      Effect = "Allow"
      Action = [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DescribeLifecycleHooks",
        "autoscaling:DescribeScalingActivities", # the lifecycle action's identity (gate/domain/holdstate.py)
        "autoscaling:DescribeWarmPool",          # instances leaving a warm pool wait on the hook too
      ]
      Resource = "*"
    }
    ec2_read = {
      Sid      = "ReadInstances"
      Effect   = "Allow"
      Action   = ["ec2:DescribeInstances"]
      Resource = "*"
    }
    # gate:* tags only (e.g. gate:held-since), only on instances of our groups (the aws:autoscaling:groupName tag
    # Auto Scaling puts on its instances). Null aws:TagKeys=false: a request must name its tags.
    tag_instances = {
      Sid      = "TagOwnInstancesGateKeysOnly"
      Effect   = "Allow"
      Action   = ["ec2:CreateTags"] # the gate clears its tags by writing them empty: no ec2:DeleteTags
      Resource = local.instance_arns
      Condition = {
        "ForAllValues:StringLike" = { "aws:TagKeys" = ["gate:*"] }
        Null                      = { "aws:TagKeys" = "false" }
        StringEquals              = { "aws:ResourceTag/aws:autoscaling:groupName" = var.autoscaling_group_names }
      }
    }
    # Terminating:Retained instances (TerminateHookAbandon = retain) have no lifecycle action left: once their
    # agents are idle the tick terminates them (gate/service/retained.py). Only instances of our groups.
    terminate_retained = {
      Sid      = "TerminateOwnRetainedInstances"
      Effect   = "Allow"
      Action   = ["ec2:TerminateInstances"]
      Resource = local.instance_arns
      Condition = {
        StringEquals = { "aws:ResourceTag/aws:autoscaling:groupName" = var.autoscaling_group_names }
      }
    }
    pat_secret = {
      Sid      = "ReadPatSecret"
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = local.pat_resource
    }
    pat_parameter = {
      Sid      = "ReadPatParameter"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter"]
      Resource = local.pat_resource
    }
    pat_kms = {
      Sid      = "DecryptPatViaItsService"
      Effect   = "Allow"
      Action   = ["kms:Decrypt"]
      Resource = var.agents.secret_kms_key_arn == null ? "" : var.agents.secret_kms_key_arn
      Condition = {
        StringEquals = { "kms:ViaService" = "${local.pat_service}.${local.pat_region}.amazonaws.com" }
      }
    }
    logs = {
      Sid    = "WriteOwnLogs"
      Effect = "Allow"
      Action = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
      ]
      Resource = "${local.log_group_arn}:*"
    }
    dlq = {
      Sid      = "SendToOwnDlq"
      Effect   = "Allow"
      Action   = ["sqs:SendMessage"]
      Resource = local.dlq_arn
    }
    dlq_kms = {
      Sid    = "EncryptDlqMessages"
      Effect = "Allow"
      Action = [
        "kms:Decrypt",
        "kms:GenerateDataKey",
      ]
      Resource = var.kms_key_arn == null ? "" : var.kms_key_arn
      Condition = {
        StringEquals = { "kms:ViaService" = "sqs.${var.region}.amazonaws.com" }
      }
    }
    # The re-check function (service_hook.enabled) runs under this role: it takes the receiver's queue and logs.
    recheck_queue = {
      Sid    = "TakeServiceHookRechecks"
      Effect = "Allow"
      Action = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
      ]
      Resource = local.service_hook_queue_arn
    }
    recheck_logs = {
      Sid    = "WriteRecheckLogs"
      Effect = "Allow"
      Action = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
      ]
      Resource = "${local.recheck_log_group_arn}:*"
    }
    ecs_list_container_instances = {
      Sid      = "ListClusterContainerInstances"
      Effect   = "Allow"
      Action   = ["ecs:ListContainerInstances"]
      Resource = local.ecs_cluster_arn
    }
    ecs_container_instances = {
      Sid    = "DrainClusterContainerInstances"
      Effect = "Allow"
      Action = [
        "ecs:DescribeContainerInstances",
        "ecs:UpdateContainerInstancesState",
      ]
      Resource = local.ecs_instance_arn
    }
    ecs_describe_tasks = {
      Sid      = "DescribeClusterTasks"
      Effect   = "Allow"
      Action   = ["ecs:DescribeTasks"]
      Resource = local.ecs_task_arn
    }
    # ListTasks authorises against the cluster through the ecs:cluster condition key, not a task ARN.
    ecs_list_tasks = {
      Sid      = "ListClusterTasks"
      Effect   = "Allow"
      Action   = ["ecs:ListTasks"]
      Resource = "*"
      Condition = {
        ArnEquals = { "ecs:cluster" = local.ecs_cluster_arn }
      }
    }
  }

  policy_statement_enabled = {
    lifecycle_actions            = true
    scale_in_protection          = var.hold.protect_busy
    autoscaling_read             = true
    ec2_read                     = true
    tag_instances                = true
    terminate_retained           = true
    pat_secret                   = local.pat_is_secret
    pat_parameter                = !local.pat_is_secret
    pat_kms                      = var.agents.secret_kms_key_arn != null
    logs                         = true
    dlq                          = var.create_dlq
    dlq_kms                      = (var.create_dlq || var.service_hook.enabled) && var.kms_key_arn != null
    recheck_queue                = var.service_hook.enabled
    recheck_logs                 = var.service_hook.enabled
    ecs_list_container_instances = local.ecs_enabled
    ecs_container_instances      = local.ecs_enabled
    ecs_describe_tasks           = local.ecs_enabled
    ecs_list_tasks               = local.ecs_enabled
  }

  enabled_statements = [
    for k in sort(keys(local.policy_statements)) : local.policy_statements[k] if local.policy_statement_enabled[k]
  ]

  policy_document = {
    Version   = "2012-10-17"
    Statement = local.enabled_statements
  }

  # The service hook receiver has a role of its own (it faces the internet): its shared secret (both versions are
  # read with the same action), the one queue it sends re-checks to, its own log group, and the queue's key when
  # the module's KMS key encrypts it. Nothing of the gate's: no Auto Scaling, no EC2, no PAT.
  service_hook_log_group_arn = "${local.arn}:logs:${var.region}:${var.account_id}:log-group:${local.names.service_hook_log_group}"
  recheck_log_group_arn      = "${local.arn}:logs:${var.region}:${var.account_id}:log-group:${local.names.recheck_log_group}"
  service_hook_queue_arn     = "${local.arn}:sqs:${var.region}:${var.account_id}:${local.names.service_hook_queue}"
  service_hook_secret_arn    = var.service_hook.secret_arn == null ? "" : var.service_hook.secret_arn
  service_hook_secret_resource = (
    can(regex("-[A-Za-z0-9]{6}$", local.service_hook_secret_arn)) ? local.service_hook_secret_arn : "${local.service_hook_secret_arn}-??????"
  )
  service_hook_statements = concat(
    [
      {
        Sid      = "ServiceHookSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [local.service_hook_secret_resource]
      },
      {
        Sid      = "ServiceHookQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [local.service_hook_queue_arn]
      },
      {
        Sid      = "ServiceHookLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${local.service_hook_log_group_arn}:*"]
      },
    ],
    var.kms_key_arn == null ? [] : [
      {
        Sid       = "ServiceHookQueueKms"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = [var.kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "sqs.${var.region}.amazonaws.com" } }
      },
    ],
  )
  service_hook_policy_document = {
    Version   = "2012-10-17"
    Statement = local.service_hook_statements
  }

  assume_role_policy_document = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "LambdaAssumeRole"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  }
}
