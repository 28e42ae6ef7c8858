# Inputs of the termination-gate module. The gate's settings come in typed objects with optional() defaults (hook,
# tick, hold, agents, azure_devops, github, ecs, notifications, lambda, monitoring, service_hook): set only what
# differs, e.g. hold = { max_seconds = 21600 }. Their types are modules/core's, verbatim (tests/infra/test_hcl.py),
# and every validation of them is written once, in modules/core, where `terraform test` checks it offline; the
# gate's own limits there come from modules/core/settings.json, generated from gate/settings.py. Only the inputs that
# core does not see (the code, the network, the role, tags) are validated here. Upgrading from v0.1: README.md.

# --- what to create -------------------------------------------------------------------------------------------------

variable "create_role" {
  description = "Create the Lambda's IAM role with the least-privilege policy. false: bring your own (role_arn) and attach the policy_json output to it."
  type        = bool
  default     = true
}

variable "role_arn" {
  description = "Existing IAM role for the Lambda when create_role = false (it needs the policy in the policy_json output and a trust policy for lambda.amazonaws.com)."
  type        = string
  default     = null

  validation {
    condition     = var.role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.role_arn))
    error_message = "role_arn must be null or an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)."
  }

  validation {
    condition     = var.create_role == (var.role_arn == null)
    error_message = "Set role_arn exactly when create_role = false."
  }
}

variable "create_dlq" {
  description = "Create the dead-letter queue for failed asynchronous invocations (and grant sqs:SendMessage to it)."
  type        = bool
  default     = true
}

# --- the code: a local zip or an S3 object --------------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Local deployment package: a release's gate-lambda-VERSION-RUNTIME-ARCH.zip (docs/releases.md; its name must match lambda.runtime and lambda.architecture), or one built by make package, e.g. build/gate-lambda.zip. null when the code comes from S3."
  type        = string
  default     = null

  # A released zip names what it was built for: pydantic-core is compiled for one CPython version and one
  # architecture, so a mismatch would fail every invocation (and the hooks would time out to default_result).
  validation {
    condition = var.lambda_zip_path == null ? true : (
      !can(regex("gate-lambda-([^/]*-)?python3\\.[0-9]+-[a-z0-9_]+\\.zip$", var.lambda_zip_path)) ||
      endswith(var.lambda_zip_path, "-${var.lambda.runtime}-${var.lambda.architecture}.zip")
    )
    error_message = "lambda_zip_path is a released package for another runtime or architecture: use the gate-lambda-VERSION-RUNTIME-ARCH.zip whose RUNTIME and ARCH are lambda.runtime and lambda.architecture."
  }
}

variable "s3_bucket" {
  description = "S3 bucket of the deployment package (instead of lambda_zip_path): plan then needs no zip on the machine."
  type        = string
  default     = null

  validation {
    condition     = (var.lambda_zip_path != null) != (var.s3_bucket != null)
    error_message = "Give the code either as lambda_zip_path or as s3_bucket + s3_key, not both and not neither."
  }

  validation {
    condition     = (var.s3_bucket == null) == (var.s3_key == null)
    error_message = "s3_bucket and s3_key go together."
  }
}

variable "s3_key" {
  description = "S3 key of the deployment package; a release's gate-lambda-VERSION-RUNTIME-ARCH.zip must match lambda.runtime and lambda.architecture."
  type        = string
  default     = null

  validation {
    condition = var.s3_key == null ? true : (
      !can(regex("gate-lambda-([^/]*-)?python3\\.[0-9]+-[a-z0-9_]+\\.zip$", var.s3_key)) ||
      endswith(var.s3_key, "-${var.lambda.runtime}-${var.lambda.architecture}.zip")
    )
    error_message = "s3_key is a released package for another runtime or architecture: use the gate-lambda-VERSION-RUNTIME-ARCH.zip whose RUNTIME and ARCH are lambda.runtime and lambda.architecture."
  }
}

variable "s3_object_version" {
  description = "Version of the S3 object (versioned buckets): a new version redeploys the function."
  type        = string
  default     = null

  validation {
    condition     = var.s3_object_version == null || var.s3_bucket != null
    error_message = "s3_object_version needs s3_bucket and s3_key."
  }
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the package when it comes from S3 (optional: redeploys when it changes). Computed from the file for lambda_zip_path."
  type        = string
  default     = null
}

# --- network: a VPC for a private Azure DevOps Server ---------------------------------------------------------------

variable "vpc_subnet_ids" {
  description = "Subnets to run the Lambda in (e.g. to reach an on-premises Azure DevOps Server); [] for none. They need a route to the AWS APIs (NAT or VPC endpoints)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.vpc_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Each vpc_subnet_ids entry must be a subnet id (subnet-...)."
  }

  validation {
    condition     = (length(var.vpc_subnet_ids) == 0) == (length(var.vpc_security_group_ids) == 0)
    error_message = "vpc_subnet_ids and vpc_security_group_ids go together."
  }
}

variable "vpc_security_group_ids" {
  description = "Security groups of the Lambda's network interfaces when vpc_subnet_ids is set."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.vpc_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "Each vpc_security_group_ids entry must be a security group id (sg-...)."
  }
}

# --- naming and the groups ------------------------------------------------------------------------------------------

variable "name" {
  description = "Base name of every resource (function, role, log group /aws/lambda/NAME, queue NAME-dlq, rules NAME-*)."
  type        = string
  default     = "asg-termination-gate"
}

variable "autoscaling_group_names" {
  description = "Existing Auto Scaling groups to gate: one terminating lifecycle hook is added to each (GATE_GROUPS)."
  type        = list(string)


}

# --- the gate's settings (validated in modules/core) ----------------------------------------------------------------

variable "hook" {
  description = "The terminating lifecycle hook put on each group. name (GATE_HOOK_NAME); heartbeat_timeout_seconds: AWS applies default_result when no heartbeat arrives for this long (30-7200, more than 3 ticks); default_result: applied on heartbeat or global timeout, set explicitly since AWS's own default is ABANDON."
  type = object({
    name                      = optional(string, "asg-termination-gate")
    heartbeat_timeout_seconds = optional(number, 300)
    default_result            = optional(string, "CONTINUE")
  })
  default  = {}
  nullable = false



}

variable "tick" {
  description = "The reconciler tick: interval_seconds of its schedule (a whole number of minutes, 60-600); each tick re-checks waiting instances for budget_seconds (GATE_TICK_BUDGET_SECONDS, at most lambda.timeout_seconds - 20) every recheck_interval_seconds (GATE_RECHECK_INTERVAL_SECONDS, at most budget_seconds). Ranges: settings.json."
  type = object({
    interval_seconds         = optional(number, 60)
    budget_seconds           = optional(number, 50)
    recheck_interval_seconds = optional(number, 10)
  })
  default  = {}
  nullable = false



}

variable "hold" {
  description = "How the gate holds an instance. max_seconds: longest hold before completing with forced_result (GATE_MAX_HOLD_SECONDS, at most the hook's global timeout min(172800, 100 x hook.heartbeat_timeout_seconds)); idle_confirm_seconds: idle must be seen on two checks this far apart (GATE_IDLE_CONFIRM_SECONDS); unregistered_grace_seconds: wait for an agent to register before releasing an instance with none (GATE_UNREGISTERED_GRACE_SECONDS); assignment_lag_seconds: no release before the disable plus this bound (GATE_ASSIGNMENT_LAG_SECONDS); heartbeat_interval_seconds: spacing of lifecycle heartbeats (GATE_HEARTBEAT_INTERVAL_SECONDS, at most hook.heartbeat_timeout_seconds - 2 ticks); forced_result: CONTINUE or ABANDON at max hold (GATE_FORCED_RESULT); delete_agent_on_release, check_job_requests, protect_busy (scale-in protection on busy InService instances, grants autoscaling:SetInstanceProtection), dry_run (GATE_<NAME>). Ranges: settings.json."
  type = object({
    max_seconds                = optional(number, 14400)
    idle_confirm_seconds       = optional(number, 15)
    unregistered_grace_seconds = optional(number, 300)
    assignment_lag_seconds     = optional(number, 60)
    heartbeat_interval_seconds = optional(number, 60)
    forced_result              = optional(string, "CONTINUE")
    delete_agent_on_release    = optional(bool, true)
    check_job_requests         = optional(bool, true)
    protect_busy               = optional(bool, false)
    dry_run                    = optional(bool, false)
  })
  default  = {}
  nullable = false



}

variable "tiers" {
  description = "Priority tiers, first match wins (GATE_TIERS): per running job, the max hold and the forced result at max hold. Each tier: name (in every decision record; \"default\" is the built-in tier, which is hold.max_seconds and hold.forced_result); max_hold_seconds (the range of hold.max_seconds, at most the hook's global timeout); forced_result: CONTINUE or ABANDON (ABANDON keeps the instance when the group retains on abandon); glob patterns (case-insensitive; a field left empty matches anything) on the job's own metadata: pipeline (Azure DevOps definition name), plan_type (Build, Release), branch (not in Azure DevOps job requests), stage, job, demands, labels (GitHub runner labels). An instance running several jobs takes the strictest of their tiers (longest hold, ABANDON over CONTINUE); a job the gate cannot place for sure takes the strictest tier it may be in, never less than the default. E.g. [{ name = \"release\", max_hold_seconds = 172800, forced_result = \"ABANDON\", plan_type = [\"Release\"] }, { name = \"pr\", max_hold_seconds = 1800, forced_result = \"CONTINUE\", pipeline = [\"*-pr\"] }]."
  type = list(object({
    name             = string
    max_hold_seconds = number
    forced_result    = string
    pipeline         = optional(list(string), [])
    plan_type        = optional(list(string), [])
    branch           = optional(list(string), [])
    stage            = optional(list(string), [])
    job              = optional(list(string), [])
    demands          = optional(list(string), [])
    labels           = optional(list(string), [])
  }))
  default  = []
  nullable = false
}

variable "agent_system" {
  description = "CI system whose agents the gate waits for: azure-devops (see azure_devops), github (see github) or gitlab (see gitlab) (GATE_AGENT_SYSTEM)."
  type        = string
  default     = "azure-devops"
}

variable "agents" {
  description = "How the agents are found. mapping: name (agent name contains the instance id), capability (capability_name holds it), hostname, ip (GitLab: a shared runner's manager reports the instance's private IP) or system-id (GitLab: its system_id is the instance's gate:gitlab-system-id tag) (GATE_MAPPING, GATE_CAPABILITY_NAME); group_pools: failure isolation, the pools (GitHub: the organisation login or OWNER/REPO; GitLab: runners) each group's agents register in, e.g. {\"agents-gpu\" = [\"gpu\"]} (GATE_GROUP_POOLS); http_timeout_seconds, max_retry_after_seconds (a longer Retry-After is not slept on), secret_cache_seconds (a credential is re-read after this, and at once after a 401) (GATE_<NAME>); secret_kms_key_arn: customer managed KMS key of the credential's secret or parameter (grants kms:Decrypt via that service), null for AWS-managed keys."
  type = object({
    mapping                 = optional(string, "name")
    capability_name         = optional(string, "AWS_INSTANCE_ID")
    group_pools             = optional(map(list(string)), {})
    http_timeout_seconds    = optional(number, 10)
    max_retry_after_seconds = optional(number, 20)
    secret_cache_seconds    = optional(number, 300)
    secret_kms_key_arn      = optional(string)
  })
  default  = {}
  nullable = false





}

variable "azure_devops" {
  description = "Azure DevOps (agent_system = azure-devops). org_url: https://dev.azure.com/ORG (GATE_AZURE_ORG_URL); pools: agent pool names (GATE_POOLS); auth: pat or entra (GATE_AZURE_AUTH); pat_secret_arn: Secrets Manager secret or SSM SecureString parameter ARN of the PAT, with auth = pat (GATE_PAT_SECRET_ARN); entra_secret_arn: secret holding the service principal's tenant id, client id and secret or certificate, with auth = entra (GATE_ENTRA_SECRET_ARN); entra_authority_host (GATE_ENTRA_AUTHORITY_HOST); api_version: 7.1 for Azure DevOps Services, 7.0 for Server 2022, 6.0 for Server 2020 (GATE_AZURE_API_VERSION)."
  type = object({
    org_url              = optional(string, "")
    pools                = optional(list(string), [])
    auth                 = optional(string, "pat")
    pat_secret_arn       = optional(string, "")
    entra_secret_arn     = optional(string, "")
    entra_authority_host = optional(string, "https://login.microsoftonline.com")
    api_version          = optional(string, "7.1")
  })
  default  = {}
  nullable = false







}

variable "github" {
  description = "GitHub Actions self-hosted runners (agent_system = github). api_url: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server (GATE_GITHUB_API_URL); org: organisation whose runners to watch, \"\" for none (GATE_GITHUB_ORG); repos: OWNER/REPO list for repository-level runners (GATE_GITHUB_REPOS); token_secret_arn: Secrets Manager secret or SSM parameter ARN of the token (GATE_GITHUB_TOKEN_SECRET_ARN)."
  type = object({
    api_url          = optional(string, "https://api.github.com")
    org              = optional(string, "")
    repos            = optional(list(string), [])
    token_secret_arn = optional(string, "")
  })
  default  = {}
  nullable = false




}

variable "gitlab" {
  description = "GitLab CI runners (agent_system = gitlab; docs/gitlab.md). url: https://gitlab.com, or a self-managed GitLab's base URL without /api/v4 (GATE_GITLAB_URL); token_secret_arn: Secrets Manager secret or SSM parameter ARN of a group, project or personal access token (Owner role; scope manage_runner, else api) (GATE_GITLAB_TOKEN_SECRET_ARN); runners: owned (GET /runners) or all (GET /runners/all, an administrator's token) (GATE_GITLAB_RUNNERS); tag_list: only runners carrying all these tags (GATE_GITLAB_TAG_LIST). agents.mapping picks the set-up: name or capability for a runner per instance (paused, then deleted), ip for one runner shared by the fleet (never paused; install the instance guard)."
  type = object({
    url              = optional(string, "https://gitlab.com")
    token_secret_arn = optional(string, "")
    runners          = optional(string, "owned")
    tag_list         = optional(list(string), [])
  })
  default  = {}
  nullable = false
}

variable "ecs" {
  description = "ECS container instances. cluster_name: the cluster backed by the groups, \"\" for none (GATE_ECS_CLUSTER; grants the container-instance permissions on that cluster only); drain: set the container instance DRAINING once its agents are idle, before completing (GATE_ECS_DRAIN); wait_tasks: then wait until no task runs there except ignore_task_groups (GATE_ECS_WAIT_TASKS); ignore_task_groups: shell-style task group patterns, e.g. service:datadog-agent, family:azp-agent (GATE_ECS_IGNORE_TASK_GROUPS)."
  type = object({
    cluster_name       = optional(string, "")
    drain              = optional(bool, false)
    wait_tasks         = optional(bool, false)
    ignore_task_groups = optional(list(string), [])
  })
  default  = {}
  nullable = false



}

variable "notifications" {
  description = "Webhook for forced releases, errors and long holds. webhook_url: https URL, \"\" for none (GATE_WEBHOOK_URL; such URLs often embed a token, so the whole object is sensitive); webhook_format: slack or json (GATE_WEBHOOK_FORMAT); webhook_timeout_seconds: one POST, never retried (GATE_WEBHOOK_TIMEOUT_SECONDS); hold_notify_seconds: notify once per hold held this long (GATE_HOLD_NOTIFY_SECONDS)."
  type = object({
    webhook_url             = optional(string, "")
    webhook_format          = optional(string, "slack")
    webhook_timeout_seconds = optional(number, 3)
    hold_notify_seconds     = optional(number, 3600)
  })
  default   = {}
  nullable  = false
  sensitive = true


}

# --- wiring and resources -------------------------------------------------------------------------------------------

variable "handle_spot_interruptions" {
  description = "Also route EC2 Spot Instance Interruption Warnings to the gate (best effort: a hook cannot delay Spot reclaim)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log groups, DLQ, alarm topic and environment; null for AWS-managed encryption. Grants kms:GenerateDataKey/Decrypt via SQS for the DLQ."
  type        = string
  default     = null
}

variable "lambda" {
  description = "The gate function. runtime: python3.11-3.13 and architecture: x86_64 or arm64 (build the package for both: scripts/package_lambda.py --runtime python3.12 --arch arm64); timeout_seconds: 30-900, at least tick.budget_seconds + 20; memory_mb; reserved_concurrent_executions: null for none, never 0; maximum_retry_attempts (0-2) and maximum_event_age_seconds (60-21600) of asynchronous invocations."
  type = object({
    runtime                        = optional(string, "python3.12")
    architecture                   = optional(string, "x86_64")
    timeout_seconds                = optional(number, 70)
    memory_mb                      = optional(number, 256)
    reserved_concurrent_executions = optional(number)
    maximum_retry_attempts         = optional(number, 2)
    maximum_event_age_seconds      = optional(number, 300)
  })
  default  = {}
  nullable = false






}

variable "monitoring" {
  description = "Logs, metrics, alarms. log_level (GATE_LOG_LEVEL); metrics_namespace of the gate's EMF metrics (GATE_METRICS_NAMESPACE); log_retention_days (0 = never expire); create_alarms: Lambda errors, DLQ not empty, forced releases, error decisions, persistent fail-safe holds; create_alarm_topic or alarm_sns_topic_arn: where alarms go (not both); failsafe_hold_alarm_minutes: alarm when an error has kept an instance waiting this long (a multiple of 5, 5-1440); create_dashboard; create_query_definitions (saved Logs Insights queries)."
  type = object({
    log_level                   = optional(string, "INFO")
    metrics_namespace           = optional(string, "AsgTerminationGate")
    log_retention_days          = optional(number, 30)
    create_alarms               = optional(bool, true)
    create_alarm_topic          = optional(bool, false)
    alarm_sns_topic_arn         = optional(string)
    failsafe_hold_alarm_minutes = optional(number, 15)
    create_dashboard            = optional(bool, true)
    create_query_definitions    = optional(bool, true)
  })
  default  = {}
  nullable = false





}

variable "service_hook" {
  description = "The Azure DevOps service hook receiver (a thin function behind a function URL with its own role, a FIFO queue and a re-check function: a build end triggers a coalesced re-check round within seconds). enabled; secret_arn: Secrets Manager ARN of the shared secret Azure DevOps sends (the web hook's basic-auth password), required when enabled (GATE_SERVICE_HOOK_SECRET_ARN); concurrency: the receiver's reserved concurrency (1-10; it answers in milliseconds); window_seconds: re-check rounds at least this far apart (1-60, GATE_SERVICE_HOOK_WINDOW_SECONDS; 5 s: at most 12 rounds a minute however many calls); role_arn: the receiver's own role when create_role = false (attach the service_hook_policy_json output to it). The secret must be at least 32 characters: the receiver refuses shorter ones at run time (Terraform sees only the ARN)."
  type = object({
    enabled        = optional(bool, false)
    secret_arn     = optional(string)
    concurrency    = optional(number, 2)
    window_seconds = optional(number, 5)
    role_arn       = optional(string)
  })
  default  = {}
  nullable = false

}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the Lambda role; null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "selection" {
  description = "Idle-first selection (docs/features.md): a second function on the same code and role (handler gate.handler.select_instances, timeout 2 s) that Auto Scaling invokes as a group's custom termination policy; it answers the instances offered whose agents are idle, or all of them when it cannot tell (the group's next policies then choose, and the hook gates what they choose). Serves SCALE_IN, INSTANCE_REFRESH, MAX_INSTANCE_LIFETIME and REBALANCE alike. enabled; invoker_role_arns: the Auto Scaling service-linked roles allowed to invoke it ([] = the account's AWSServiceRoleForAutoScaling; name a group's custom-suffix role here); concurrency: its reserved concurrency (null for none; 1-100: a throttled invocation makes Auto Scaling ask again a little later, nothing is terminated meanwhile). The groups opt in themselves: termination_policies = [module.NAME.termination_policy_arn, \"Default\"]."
  type = object({
    enabled           = optional(bool, false)
    invoker_role_arns = optional(list(string), [])
    concurrency       = optional(number)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for a in var.selection.invoker_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/aws-service-role/autoscaling\\.amazonaws\\.com/AWSServiceRoleForAutoScaling[A-Za-z0-9_+=,.@-]*$", a))])
    error_message = "selection.invoker_role_arns must be Auto Scaling service-linked role ARNs (arn:aws:iam::ACCOUNT:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling[_SUFFIX])."
  }

  validation {
    condition     = var.selection.concurrency == null || try(var.selection.concurrency >= 1 && var.selection.concurrency <= 100 && floor(var.selection.concurrency) == var.selection.concurrency, false)
    error_message = "selection.concurrency must be null or a whole number between 1 and 100."
  }
}
