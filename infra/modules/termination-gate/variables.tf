# Inputs of the termination-gate module. Their validations live in modules/core (every variable below is passed
# to it), where `terraform test` checks them offline; a bad value fails the plan with core's error message.

# --- naming ---------------------------------------------------------------------------------------------------

variable "name" {
  description = "Base name of every resource (function, role, log group /aws/lambda/NAME, queue NAME-dlq, rules NAME-*)."
  type        = string
  default     = "asg-termination-gate"
}

# --- the groups and their hook --------------------------------------------------------------------------------

variable "autoscaling_group_names" {
  description = "Existing Auto Scaling groups to gate: one terminating lifecycle hook is added to each."
  type        = list(string)
}

variable "hook_name" {
  description = "Name of the terminating lifecycle hook on each group (GATE_HOOK_NAME)."
  type        = string
  default     = "asg-termination-gate"
}

variable "heartbeat_timeout_seconds" {
  description = "Lifecycle hook HeartbeatTimeout: AWS applies default_result when no heartbeat arrives for this long."
  type        = number
  default     = 300
}

variable "default_result" {
  description = "Lifecycle hook DefaultResult, applied on heartbeat or global timeout. Set explicitly: AWS's own default is ABANDON."
  type        = string
  default     = "CONTINUE"
}

variable "max_hold_seconds" {
  description = "Longest the gate holds one instance before completing with forced_result (GATE_MAX_HOLD_SECONDS)."
  type        = number
  default     = 14400
}

# --- the CI system: Azure DevOps (default) or GitHub Actions ----------------------------------------------------

variable "agent_system" {
  description = "CI system whose agents the gate waits for: azure-devops (azure_org_url, pools, pat_secret_arn) or github (github_org and/or github_repos, github_token_secret_arn) (GATE_AGENT_SYSTEM)."
  type        = string
  default     = "azure-devops"
}

variable "azure_org_url" {
  description = "Azure DevOps organisation URL, e.g. https://dev.azure.com/contoso (GATE_AZURE_ORG_URL). Required with agent_system = azure-devops."
  type        = string
  default     = ""
}

variable "pools" {
  description = "Agent pool names to look the instance's agents up in (GATE_POOLS, comma-separated). Required with agent_system = azure-devops."
  type        = list(string)
  default     = []
}

variable "mapping" {
  description = "How agents are matched to an instance: name (agent name contains the instance id), capability, hostname."
  type        = string
  default     = "name"
}

variable "capability_name" {
  description = "Agent capability holding the instance id when mapping = capability (GATE_CAPABILITY_NAME)."
  type        = string
  default     = "AWS_INSTANCE_ID"
}

variable "pat_secret_arn" {
  description = "ARN of the Azure DevOps PAT: a Secrets Manager secret or an SSM SecureString parameter (GATE_PAT_SECRET_ARN). Required with agent_system = azure-devops."
  type        = string
  default     = ""
}

variable "github_api_url" {
  description = "GitHub REST API root: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server (GATE_GITHUB_API_URL)."
  type        = string
  default     = "https://api.github.com"
}

variable "github_org" {
  description = "Organisation whose self-hosted runners to watch; \"\" for none (GATE_GITHUB_ORG)."
  type        = string
  default     = ""
}

variable "github_repos" {
  description = "Repositories (OWNER/REPO) whose repository-level runners to watch (GATE_GITHUB_REPOS, comma-separated)."
  type        = list(string)
  default     = []
}

variable "github_token_secret_arn" {
  description = "ARN of the GitHub token (fine-grained PAT or App token; bare or {\"token\": \"...\"}): a Secrets Manager secret or an SSM SecureString parameter (GATE_GITHUB_TOKEN_SECRET_ARN). Required with agent_system = github."
  type        = string
  default     = ""
}

variable "pat_kms_key_arn" {
  description = "Customer managed KMS key that encrypts the PAT secret/parameter: grants kms:Decrypt via that service. null for AWS-managed keys."
  type        = string
  default     = null
}

# --- decision settings ----------------------------------------------------------------------------------------

variable "idle_confirm_seconds" {
  description = "Idle must be seen on two checks at least this far apart before release (GATE_IDLE_CONFIRM_SECONDS)."
  type        = number
  default     = 15
}

variable "unregistered_grace_seconds" {
  description = "How long to wait for an agent to register before releasing an instance with no agent (GATE_UNREGISTERED_GRACE_SECONDS)."
  type        = number
  default     = 300
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
}

variable "max_retry_after_seconds" {
  description = "A longer Retry-After is not slept on: the gate holds and backs off (GATE_MAX_RETRY_AFTER_SECONDS)."
  type        = number
  default     = 20
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
}

variable "tick_budget_seconds" {
  description = "How long one tick keeps re-checking waiting instances (GATE_TICK_BUDGET_SECONDS)."
  type        = number
  default     = 50
}

variable "recheck_interval_seconds" {
  description = "Pause between re-checks within one tick (GATE_RECHECK_INTERVAL_SECONDS)."
  type        = number
  default     = 10
}

variable "forced_result" {
  description = "Result used when max_hold_seconds is reached (GATE_FORCED_RESULT). ABANDON + the group's TerminateHookAbandon=retain keeps the instance alive."
  type        = string
  default     = "CONTINUE"
}

variable "heartbeat_interval_seconds" {
  description = "Minimum spacing of RecordLifecycleActionHeartbeat calls for a held instance (GATE_HEARTBEAT_INTERVAL_SECONDS)."
  type        = number
  default     = 60
}

variable "log_level" {
  description = "Gate log level (GATE_LOG_LEVEL)."
  type        = string
  default     = "INFO"
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the gate's EMF metrics (GATE_METRICS_NAMESPACE)."
  type        = string
  default     = "AsgTerminationGate"
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
}

variable "ecs_drain" {
  description = "Set the container instance to DRAINING once its agents are idle, before completing (GATE_ECS_DRAIN)."
  type        = bool
  default     = false
}

variable "ecs_wait_tasks" {
  description = "After DRAINING, also wait until no task runs on the container instance except ecs_ignore_task_groups (GATE_ECS_WAIT_TASKS)."
  type        = bool
  default     = false
}

variable "ecs_ignore_task_groups" {
  description = "Task groups not waited for, shell-style patterns: daemon services (service:datadog-agent) and the agent's own standalone task (family:azp-agent) (GATE_ECS_IGNORE_TASK_GROUPS, comma-separated)."
  type        = list(string)
  default     = []
}

variable "webhook_url" {
  description = "Optional https webhook notified about forced releases, errors and long holds; \"\" for none (GATE_WEBHOOK_URL). Sensitive: such URLs often embed a token."
  type        = string
  default     = ""
  sensitive   = true
}

variable "webhook_format" {
  description = "Webhook body: slack ({\"text\": ...}, also Mattermost/Teams workflows) or json (text plus the decision's fields) (GATE_WEBHOOK_FORMAT)."
  type        = string
  default     = "slack"
}

variable "webhook_timeout_seconds" {
  description = "Timeout of one webhook POST; a failure is logged, never retried, never blocks a decision (GATE_WEBHOOK_TIMEOUT_SECONDS)."
  type        = number
  default     = 3
}

variable "hold_notify_seconds" {
  description = "Notify the webhook (once per hold) when an instance has been held this long (GATE_HOLD_NOTIFY_SECONDS)."
  type        = number
  default     = 3600
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
}

# --- resources ------------------------------------------------------------------------------------------------

variable "lambda_memory_mb" {
  description = "Lambda memory size."
  type        = number
  default     = 256
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the Lambda; null for none (uses the account's unreserved pool)."
  type        = number
  default     = null
}

variable "maximum_retry_attempts" {
  description = "Lambda retries of a failed asynchronous invocation before it goes to the DLQ."
  type        = number
  default     = 2
}

variable "maximum_event_age_seconds" {
  description = "Oldest asynchronous event Lambda still delivers. Late lifecycle events are harmless: the tick reconciles."
  type        = number
  default     = 300
}

variable "log_retention_days" {
  description = "Retention of the Lambda's log group (0 = never expire)."
  type        = number
  default     = 30
}

variable "create_alarm_topic" {
  description = "Create an SNS topic for the alarms."
  type        = bool
  default     = false
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard (decisions by outcome, hold durations, waiting instances, errors, Lambda duration and throttles)."
  type        = bool
  default     = true
}

variable "create_query_definitions" {
  description = "Save the Logs Insights queries (outcomes over time, longest holds, forced and error decisions, rounds cut short)."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "Existing SNS topic for the alarms; null for none."
  type        = string
  default     = null
}

variable "lambda_zip_path" {
  description = "Path of the deployment package built by scripts/package_lambda.py (make package): build/gate-lambda.zip."
  type        = string
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
