# Every validation of the termination-gate module lives here (the parent passes its variables straight through),
# so tests/*.tftest.hcl can check them offline with expect_failures.

# --- where ----------------------------------------------------------------------------------------------------

variable "name" {
  description = "Base name of every resource (function, role, log group /aws/lambda/NAME, queue NAME-dlq, rules NAME-*)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,48}$", var.name))
    error_message = "name must be 1-48 characters of A-Z a-z 0-9 _ - (room for the -lifecycle/-tick/-spot/-dlq suffixes)."
  }
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string

  validation {
    condition     = can(regex("^aws(-[a-z]+)*$", var.partition))
    error_message = "partition must look like aws, aws-cn or aws-us-gov."
  }
}

variable "region" {
  description = "AWS region of the groups and of the gate."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "account_id" {
  description = "AWS account id of the groups and of the gate."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

# --- the groups and their hook --------------------------------------------------------------------------------

variable "autoscaling_group_names" {
  description = "Existing Auto Scaling groups to gate: one terminating lifecycle hook is added to each."
  type        = list(string)

  validation {
    condition     = length(var.autoscaling_group_names) > 0
    error_message = "autoscaling_group_names must name at least one group."
  }

  validation {
    condition     = alltrue([for g in var.autoscaling_group_names : can(regex("^[^,:]{1,255}$", g))])
    error_message = "Each group name must be 1-255 characters without ',' (GATE_GROUPS is comma-separated) or ':'."
  }

  validation {
    condition     = length(distinct(var.autoscaling_group_names)) == length(var.autoscaling_group_names)
    error_message = "autoscaling_group_names must not repeat a group."
  }
}

variable "hook_name" {
  description = "Name of the terminating lifecycle hook on each group (GATE_HOOK_NAME)."
  type        = string
  default     = "asg-termination-gate"

  validation {
    condition     = can(regex("^[A-Za-z0-9/_.-]{1,255}$", var.hook_name))
    error_message = "hook_name must be 1-255 characters of A-Z a-z 0-9 - _ / ."
  }

  validation {
    condition     = var.hook_name != "ecs-managed-draining-termination-hook"
    error_message = "hook_name must not be ECS managed draining's own hook name."
  }
}

variable "tick_interval_seconds" {
  description = "Period of the reconciler tick schedule. The module uses 60 (rate(1 minute))."
  type        = number
  default     = 60

  validation {
    condition     = var.tick_interval_seconds >= 60 && var.tick_interval_seconds <= 600 && var.tick_interval_seconds % 60 == 0
    error_message = "tick_interval_seconds must be a whole number of minutes between 60 and 600."
  }
}

variable "heartbeat_timeout_seconds" {
  description = "Lifecycle hook HeartbeatTimeout: AWS applies default_result when no heartbeat arrives for this long."
  type        = number
  default     = 300

  validation {
    condition     = var.heartbeat_timeout_seconds >= 30 && var.heartbeat_timeout_seconds <= 7200 && floor(var.heartbeat_timeout_seconds) == var.heartbeat_timeout_seconds
    error_message = "heartbeat_timeout_seconds must be a whole number between 30 and 7200 (AWS limits)."
  }

  validation {
    condition     = var.heartbeat_timeout_seconds > 3 * var.tick_interval_seconds
    error_message = "heartbeat_timeout_seconds must exceed 3 reconciler ticks (3 x tick_interval_seconds = 180 s): one or two lost ticks must not let the hook time out."
  }
}

variable "default_result" {
  description = "Lifecycle hook DefaultResult, applied on heartbeat or global timeout. Set explicitly: AWS's own default is ABANDON."
  type        = string
  default     = "CONTINUE"

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.default_result)
    error_message = "default_result must be CONTINUE or ABANDON."
  }
}

variable "max_hold_seconds" {
  description = "Longest the gate holds one instance before completing with forced_result (GATE_MAX_HOLD_SECONDS)."
  type        = number
  default     = 14400

  validation {
    condition     = var.max_hold_seconds >= 60 && floor(var.max_hold_seconds) == var.max_hold_seconds
    error_message = "max_hold_seconds must be a whole number of at least 60."
  }

  validation {
    condition     = var.max_hold_seconds <= min(172800, 100 * var.heartbeat_timeout_seconds)
    error_message = "max_hold_seconds must not exceed the hook's global timeout min(172800, 100 x heartbeat_timeout_seconds): raise heartbeat_timeout_seconds or lower max_hold_seconds."
  }
}

# --- Azure DevOps ---------------------------------------------------------------------------------------------

variable "agent_system" {
  description = "CI system whose agents the gate waits for: azure-devops (azure_org_url, pools, pat_secret_arn) or github (github_org and/or github_repos, github_token_secret_arn) (GATE_AGENT_SYSTEM)."
  type        = string
  default     = "azure-devops"

  validation {
    condition     = contains(["azure-devops", "github"], var.agent_system)
    error_message = "agent_system must be azure-devops or github."
  }
}

variable "azure_org_url" {
  description = "Azure DevOps organisation URL, e.g. https://dev.azure.com/contoso (GATE_AZURE_ORG_URL). Required with agent_system = azure-devops."
  type        = string
  default     = ""

  validation {
    condition     = (var.agent_system != "azure-devops" && var.azure_org_url == "") || can(regex("^(https://[A-Za-z0-9.-]+|http://(127\\.0\\.0\\.1|localhost))(:[0-9]+)?(/[A-Za-z0-9._~%-]+)*/?$", var.azure_org_url))
    error_message = "azure_org_url must be an https:// URL such as https://dev.azure.com/contoso (required with agent_system = azure-devops); plain http only for a loopback test server."
  }
}

variable "pools" {
  description = "Agent pool names to look the instance's agents up in (GATE_POOLS, comma-separated). Required with agent_system = azure-devops."
  type        = list(string)
  default     = []

  validation {
    condition     = var.agent_system != "azure-devops" || length(var.pools) > 0
    error_message = "pools must name at least one agent pool."
  }

  validation {
    condition     = alltrue([for p in var.pools : trimspace(p) != "" && !strcontains(p, ",")])
    error_message = "Pool names must be non-empty and contain no ',' (GATE_POOLS is comma-separated)."
  }
}

variable "mapping" {
  description = "How agents are matched to an instance: name (agent name contains the instance id), capability, hostname."
  type        = string
  default     = "name"

  validation {
    condition     = contains(["name", "capability", "hostname"], var.mapping)
    error_message = "mapping must be one of name, capability, hostname."
  }
}

variable "capability_name" {
  description = "Agent capability holding the instance id when mapping = capability (GATE_CAPABILITY_NAME)."
  type        = string
  default     = "AWS_INSTANCE_ID"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,128}$", var.capability_name))
    error_message = "capability_name must be 1-128 characters of A-Z a-z 0-9 _ . -"
  }
}

variable "pat_secret_arn" {
  description = "ARN of the Azure DevOps PAT: a Secrets Manager secret or an SSM SecureString parameter (GATE_PAT_SECRET_ARN). Required with agent_system = azure-devops."
  type        = string
  default     = ""

  validation {
    condition     = ((var.agent_system != "azure-devops" || var.azure_auth == "entra") && var.pat_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.pat_secret_arn))
    error_message = "pat_secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)."
  }
}

# --- GitHub Actions self-hosted runners (agent_system = github) --------------------------------------------------

variable "github_api_url" {
  description = "GitHub REST API root: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server (GATE_GITHUB_API_URL)."
  type        = string
  default     = "https://api.github.com"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%-]+)*/?$", var.github_api_url))
    error_message = "github_api_url must be an https:// URL such as https://api.github.com."
  }
}

variable "github_org" {
  description = "Organisation whose self-hosted runners to watch; \"\" for none (GATE_GITHUB_ORG)."
  type        = string
  default     = ""

  validation {
    condition     = var.github_org == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github_org))
    error_message = "github_org must be \"\" or a GitHub organisation login."
  }

  validation {
    condition     = var.agent_system != "github" || var.github_org != "" || length(var.github_repos) > 0
    error_message = "agent_system = github needs github_org and/or github_repos."
  }
}

variable "github_repos" {
  description = "Repositories (OWNER/REPO) whose repository-level runners to watch (GATE_GITHUB_REPOS, comma-separated)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.github_repos : can(regex("^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$", r))])
    error_message = "Each github_repos entry must be OWNER/REPO."
  }
}

variable "group_pools" {
  description = "Failure isolation: the pools (GitHub: the organisation login or OWNER/REPO) each group's agents register in, e.g. {\"agents-gpu\" = [\"gpu\"]} (GATE_GROUP_POOLS, JSON). A failing pool holds every instance of a group not named here, since the gate cannot know an instance has no agent in a pool it cannot list; a named group is held only by its own pools (and any pool an agent of the instance was seen in)."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for g in keys(var.group_pools) : contains(var.autoscaling_group_names, g)])
    error_message = "Each group_pools key must be one of autoscaling_group_names."
  }

  validation {
    condition = alltrue([
      for g, ps in var.group_pools : length(ps) > 0 && alltrue([
        for p in ps : contains(var.agent_system == "github" ? concat(var.github_org == "" ? [] : [var.github_org], var.github_repos) : var.pools, p)
      ])
    ])
    error_message = "Each group_pools entry must list at least one pool, each one of pools (agent_system = github: github_org or github_repos)."
  }
}

variable "github_token_secret_arn" {
  description = "ARN of the GitHub token (fine-grained PAT or App token; bare or {\"token\": \"...\"}): a Secrets Manager secret or an SSM SecureString parameter (GATE_GITHUB_TOKEN_SECRET_ARN). Required with agent_system = github."
  type        = string
  default     = ""

  validation {
    condition     = (var.agent_system != "github" && var.github_token_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.github_token_secret_arn))
    error_message = "github_token_secret_arn must be a Secrets Manager secret ARN or an SSM parameter ARN (required with agent_system = github, \"\" otherwise)."
  }
}

variable "pat_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the PAT secret/parameter: grants kms:Decrypt via that service. null for AWS-managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.pat_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.pat_kms_key_arn))
    error_message = "pat_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)."
  }
}

# --- decision settings ----------------------------------------------------------------------------------------

variable "idle_confirm_seconds" {
  description = "Idle must be seen on two checks at least this far apart before release (GATE_IDLE_CONFIRM_SECONDS)."
  type        = number
  default     = 15

  validation {
    condition     = var.idle_confirm_seconds >= 0 && var.idle_confirm_seconds <= 600
    error_message = "idle_confirm_seconds must be between 0 and 600."
  }
}

variable "unregistered_grace_seconds" {
  description = "How long to wait for an agent to register before releasing an instance with no agent (GATE_UNREGISTERED_GRACE_SECONDS)."
  type        = number
  default     = 300

  validation {
    condition     = var.unregistered_grace_seconds >= 0 && var.unregistered_grace_seconds <= 3600
    error_message = "unregistered_grace_seconds must be between 0 and 3600."
  }
}

variable "assignment_lag_seconds" {
  description = "No release before the disable plus this bound: a job assigned just before the disable can stay invisible in the agent list and job requests for up to about a minute (GATE_ASSIGNMENT_LAG_SECONDS)."
  type        = number
  default     = 60

  validation {
    condition     = var.assignment_lag_seconds >= 0 && var.assignment_lag_seconds <= 3600
    error_message = "assignment_lag_seconds must be between 0 and 3600."
  }
}

variable "azure_auth" {
  description = "How the gate signs in to Azure DevOps: pat (pat_secret_arn) or entra (a Microsoft Entra service principal, entra_secret_arn) (GATE_AZURE_AUTH)."
  type        = string
  default     = "pat"

  validation {
    condition     = contains(["pat", "entra"], var.azure_auth)
    error_message = "azure_auth must be pat or entra."
  }
}

variable "entra_secret_arn" {
  description = "Secrets Manager secret ARN (or SSM parameter ARN) holding the service principal's tenant id, client id and secret or certificate; required with azure_auth = entra (GATE_ENTRA_SECRET_ARN)."
  type        = string
  default     = ""

  validation {
    condition     = (var.azure_auth != "entra" && var.entra_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.entra_secret_arn))
    error_message = "entra_secret_arn must be a Secrets Manager secret ARN or an SSM parameter ARN (required with azure_auth = entra, \"\" otherwise)."
  }
}

variable "entra_authority_host" {
  description = "Microsoft Entra authority host, e.g. https://login.microsoftonline.us for a national cloud (GATE_ENTRA_AUTHORITY_HOST)."
  type        = string
  default     = "https://login.microsoftonline.com"

  validation {
    condition     = can(regex("^https://[^/?#]+/?$", var.entra_authority_host))
    error_message = "entra_authority_host must be an https URL with no path, e.g. https://login.microsoftonline.com."
  }
}

variable "azure_api_version" {
  description = "Azure DevOps REST api-version: 7.1 for Azure DevOps Services, 7.0 for Server 2022, 6.0 for Server 2020; the gate negotiates down once when the server says it is out of range (GATE_AZURE_API_VERSION)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+(-preview(\\.[0-9]+)?)?$", var.azure_api_version))
    error_message = "azure_api_version must look like 7.1, 7.0, 6.0 or 7.1-preview.1."
  }
}

variable "secret_cache_seconds" {
  description = "How long a container keeps a secret before reading it again (it also re-reads at once after a 401): a rotation takes effect without a redeploy (GATE_SECRET_CACHE_SECONDS)."
  type        = number
  default     = 300

  validation {
    condition     = var.secret_cache_seconds >= 0 && var.secret_cache_seconds <= 3600
    error_message = "secret_cache_seconds must be between 0 and 3600."
  }
}

variable "check_job_requests" {
  description = "Look at the agent's job requests once before releasing (GATE_CHECK_JOB_REQUESTS)."
  type        = bool
  default     = true
}

variable "http_timeout_seconds" {
  description = "Read timeout of the agent system's REST calls (GATE_HTTP_TIMEOUT_SECONDS)."
  type        = number
  default     = 10

  validation {
    condition     = var.http_timeout_seconds > 0 && var.http_timeout_seconds <= 120
    error_message = "http_timeout_seconds must be > 0 and <= 120."
  }
}

variable "max_retry_after_seconds" {
  description = "A longer Retry-After is not slept on: the gate holds and backs off (GATE_MAX_RETRY_AFTER_SECONDS)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_retry_after_seconds >= 0 && var.max_retry_after_seconds <= 300
    error_message = "max_retry_after_seconds must be between 0 and 300."
  }
}

variable "delete_agent_on_release" {
  description = "Delete the agent registration after completing the hook (GATE_DELETE_AGENT_ON_RELEASE)."
  type        = bool
  default     = true
}

variable "dry_run" {
  description = "Log decisions without acting (GATE_DRY_RUN)."
  type        = bool
  default     = false
}

variable "lambda_timeout_seconds" {
  description = "Lambda timeout. Must leave room after tick_budget_seconds."
  type        = number
  default     = 70

  validation {
    condition     = var.lambda_timeout_seconds >= 30 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 30 and 900."
  }
}

variable "tick_budget_seconds" {
  description = "How long one tick keeps re-checking waiting instances (GATE_TICK_BUDGET_SECONDS)."
  type        = number
  default     = 50

  validation {
    condition     = var.tick_budget_seconds >= 1 && var.tick_budget_seconds <= min(840, var.lambda_timeout_seconds - 20)
    error_message = "tick_budget_seconds must be between 1 and min(840, lambda_timeout_seconds - 20): a round may overrun the budget by up to 15 s (gate.service.reconcile.ROUND_GRACE_SECONDS) and the last calls need headroom."
  }
}

variable "recheck_interval_seconds" {
  description = "Pause between re-checks within one tick (GATE_RECHECK_INTERVAL_SECONDS)."
  type        = number
  default     = 10

  validation {
    condition     = var.recheck_interval_seconds >= 1 && var.recheck_interval_seconds <= var.tick_budget_seconds
    error_message = "recheck_interval_seconds must be between 1 and tick_budget_seconds."
  }
}

variable "forced_result" {
  description = "Result used when max_hold_seconds is reached (GATE_FORCED_RESULT). ABANDON + the group's TerminateHookAbandon=retain keeps the instance alive."
  type        = string
  default     = "CONTINUE"

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.forced_result)
    error_message = "forced_result must be CONTINUE or ABANDON."
  }
}

variable "heartbeat_interval_seconds" {
  description = "Minimum spacing of RecordLifecycleActionHeartbeat calls for a held instance (GATE_HEARTBEAT_INTERVAL_SECONDS)."
  type        = number
  default     = 60

  validation {
    condition     = var.heartbeat_interval_seconds >= 10
    error_message = "heartbeat_interval_seconds must be at least 10."
  }

  validation {
    condition     = var.heartbeat_interval_seconds <= var.heartbeat_timeout_seconds - 2 * var.tick_interval_seconds
    error_message = "heartbeat_interval_seconds must be <= heartbeat_timeout_seconds - 2 x tick_interval_seconds, or a heartbeat due just after a tick arrives too late."
  }
}

variable "log_level" {
  description = "Gate log level (GATE_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the gate's EMF metrics (GATE_METRICS_NAMESPACE)."
  type        = string
  default     = "AsgTerminationGate"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of A-Z a-z 0-9 . _ / # : - and must not start with AWS/."
  }
}

variable "protect_busy" {
  description = "Also set scale-in protection on InService instances whose agents are busy (GATE_PROTECT_BUSY). Grants autoscaling:SetInstanceProtection."
  type        = bool
  default     = false
}

variable "ecs_cluster_name" {
  description = "ECS cluster backed by the groups; \"\" for none (GATE_ECS_CLUSTER). Grants the ECS container-instance permissions on that cluster only."
  type        = string
  default     = ""

  validation {
    condition     = var.ecs_cluster_name == "" || can(regex("^[A-Za-z0-9_-]{1,255}$", var.ecs_cluster_name))
    error_message = "ecs_cluster_name must be \"\" or a cluster name (A-Z a-z 0-9 _ -, not an ARN)."
  }
}

variable "ecs_drain" {
  description = "Set the container instance to DRAINING once its agents are idle, before completing (GATE_ECS_DRAIN)."
  type        = bool
  default     = false

  validation {
    condition     = !var.ecs_drain || var.ecs_cluster_name != ""
    error_message = "ecs_drain needs ecs_cluster_name."
  }
}

variable "ecs_wait_tasks" {
  description = "After DRAINING, also wait until no task runs on the container instance except ecs_ignore_task_groups (GATE_ECS_WAIT_TASKS)."
  type        = bool
  default     = false

  validation {
    condition     = !var.ecs_wait_tasks || var.ecs_drain
    error_message = "ecs_wait_tasks needs ecs_drain."
  }
}

variable "ecs_ignore_task_groups" {
  description = "Task groups not waited for, shell-style patterns: daemon services (service:datadog-agent) and the agent's own standalone task (family:azp-agent) (GATE_ECS_IGNORE_TASK_GROUPS, comma-separated)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for g in var.ecs_ignore_task_groups : trimspace(g) != "" && !strcontains(g, ",")])
    error_message = "Each ecs_ignore_task_groups entry must be non-empty and contain no ','."
  }
}

variable "webhook_url" {
  description = "Optional https webhook notified about forced releases, errors and long holds; \"\" for none (GATE_WEBHOOK_URL). Sensitive: such URLs often embed a token."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.webhook_url == "" || startswith(var.webhook_url, "https://")
    error_message = "webhook_url must be \"\" or an https:// URL."
  }
}

variable "webhook_format" {
  description = "Webhook body: slack ({\"text\": ...}, also Mattermost/Teams workflows) or json (text plus the decision's fields) (GATE_WEBHOOK_FORMAT)."
  type        = string
  default     = "slack"

  validation {
    condition     = contains(["slack", "json"], var.webhook_format)
    error_message = "webhook_format must be slack or json."
  }
}

variable "webhook_timeout_seconds" {
  description = "Timeout of one webhook POST; a failure is logged, never retried, never blocks a decision (GATE_WEBHOOK_TIMEOUT_SECONDS)."
  type        = number
  default     = 3

  validation {
    condition     = var.webhook_timeout_seconds > 0 && var.webhook_timeout_seconds <= 10
    error_message = "webhook_timeout_seconds must be > 0 and <= 10."
  }
}

variable "hold_notify_seconds" {
  description = "Notify the webhook (once per hold) when an instance has been held this long (GATE_HOLD_NOTIFY_SECONDS)."
  type        = number
  default     = 3600

  validation {
    condition     = var.hold_notify_seconds >= 0 && var.hold_notify_seconds <= 172800
    error_message = "hold_notify_seconds must be between 0 and 172800."
  }
}

# --- other wiring that shapes the policy ----------------------------------------------------------------------

variable "handle_spot_interruptions" {
  description = "Also route EC2 Spot Instance Interruption Warnings to the gate (best effort: a hook cannot delay Spot reclaim)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log group, DLQ, alarm topic and environment; null for AWS-managed encryption. Grants kms:GenerateDataKey/Decrypt via SQS for the DLQ."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)."
  }
}

# --- resource settings of the parent module (validated here so that tests/*.tftest.hcl covers them) -----------

variable "lambda_memory_mb" {
  description = "Lambda memory size."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the Lambda; null for none (uses the account's unreserved pool)."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null || try(var.reserved_concurrent_executions >= 1, false)
    error_message = "reserved_concurrent_executions must be null or >= 1 (0 would disable the gate and strand every hook)."
  }
}

variable "maximum_retry_attempts" {
  description = "Lambda retries of a failed asynchronous invocation before it goes to the DLQ."
  type        = number
  default     = 2

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 2
    error_message = "maximum_retry_attempts must be 0, 1 or 2 (Lambda limits)."
  }
}

variable "maximum_event_age_seconds" {
  description = "Oldest asynchronous event Lambda still delivers. Late lifecycle events are harmless: the tick reconciles."
  type        = number
  default     = 300

  validation {
    condition     = var.maximum_event_age_seconds >= 60 && var.maximum_event_age_seconds <= 21600
    error_message = "maximum_event_age_seconds must be between 60 and 21600 (Lambda limits)."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda's log group (0 = never expire)."
  type        = number
  default     = 30

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653) or 0."
  }
}

variable "create_alarm_topic" {
  description = "Create an SNS topic for the alarms."
  type        = bool
  default     = false
}

variable "failsafe_hold_alarm_minutes" {
  description = "Alarm when an error has kept an instance waiting (a fail-safe hold: agent system or one of its routes unavailable, credentials refused, ECS unavailable, EC2 or tags failing) for this many minutes: the FailsafeHolds metric above 0 in every 5-minute period of that span. A multiple of 5, 5-1440."
  type        = number
  default     = 15

  validation {
    condition     = var.failsafe_hold_alarm_minutes >= 5 && var.failsafe_hold_alarm_minutes <= 1440 && var.failsafe_hold_alarm_minutes % 5 == 0
    error_message = "failsafe_hold_alarm_minutes must be a multiple of 5 between 5 and 1440 (the alarm evaluates 5-minute periods, at most one day)."
  }
}

variable "alarm_sns_topic_arn" {
  description = "Existing SNS topic for the alarms; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be null or an SNS topic ARN."
  }

  validation {
    condition     = !(var.create_alarm_topic && var.alarm_sns_topic_arn != null)
    error_message = "Set either create_alarm_topic or alarm_sns_topic_arn, not both."
  }
}

variable "create_dlq" {
  description = "Create the dead-letter queue for failed asynchronous invocations (and grant sqs:SendMessage to it)."
  type        = bool
  default     = true
}
