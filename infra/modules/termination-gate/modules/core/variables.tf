# Every validation of the termination-gate module is written here, once (the parent passes its inputs straight
# through), so tests/*.tftest.hcl checks them offline with expect_failures. The gate's own limits (the ranges and
# choices of its GATE_* settings) are not written here at all: they come from settings.json, generated from
# gate/settings.py (python -m tests.infra.settings_json), so Terraform accepts exactly what the gate accepts.
# The object types are repeated verbatim in the parent's variables.tf (tests/infra/test_hcl.py keeps them equal).

locals {
  settings = jsondecode(file("${path.module}/settings.json"))
}

# --- where ----------------------------------------------------------------------------------------------------

variable "name" {
  description = "Base name of every resource (function, role, log group /aws/lambda/NAME, queue NAME-dlq, rules NAME-*)."
  type        = string
  default     = "asg-termination-gate"

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

# --- the groups -----------------------------------------------------------------------------------------------

variable "autoscaling_group_names" {
  description = "Existing Auto Scaling groups to gate: one terminating lifecycle hook is added to each (GATE_GROUPS)."
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

variable "hook" {
  description = "The terminating lifecycle hook put on each group. name (GATE_HOOK_NAME); heartbeat_timeout_seconds: AWS applies default_result when no heartbeat arrives for this long (30-7200, more than 3 ticks); default_result: applied on heartbeat or global timeout, set explicitly since AWS's own default is ABANDON."
  type = object({
    name                      = optional(string, "asg-termination-gate")
    heartbeat_timeout_seconds = optional(number, 300)
    default_result            = optional(string, "CONTINUE")
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^[A-Za-z0-9/_.-]{1,255}$", var.hook.name)) && var.hook.name != "ecs-managed-draining-termination-hook"
    error_message = "hook.name must be 1-255 characters of A-Z a-z 0-9 - _ / . and not ECS managed draining's own hook name."
  }

  validation {
    condition     = var.hook.heartbeat_timeout_seconds >= 30 && var.hook.heartbeat_timeout_seconds <= 7200 && floor(var.hook.heartbeat_timeout_seconds) == var.hook.heartbeat_timeout_seconds
    error_message = "hook.heartbeat_timeout_seconds must be a whole number between 30 and 7200 (AWS limits)."
  }

  validation {
    condition     = var.hook.heartbeat_timeout_seconds > 3 * var.tick.interval_seconds
    error_message = "hook.heartbeat_timeout_seconds must exceed 3 reconciler ticks (3 x tick.interval_seconds = 180 s): one or two lost ticks must not let the hook time out."
  }

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.hook.default_result)
    error_message = "hook.default_result must be CONTINUE or ABANDON."
  }
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

  validation {
    condition     = var.tick.interval_seconds >= 60 && var.tick.interval_seconds <= 600 && var.tick.interval_seconds % 60 == 0
    error_message = "tick.interval_seconds must be a whole number of minutes between 60 and 600."
  }

  validation {
    condition = alltrue([
      for k, r in local.settings.ranges.tick :
      (r.min_inclusive ? var.tick[k] >= r.min : var.tick[k] > r.min) && (r.max_inclusive ? var.tick[k] <= r.max : var.tick[k] < r.max) && (!r.whole || floor(var.tick[k]) == var.tick[k])
    ])
    error_message = "tick: outside the gate's limits (settings.json, from gate/settings.py): ${join("; ", [for k, r in local.settings.ranges.tick : "${k} ${r.text}"])}."
  }

  validation {
    condition     = var.tick.budget_seconds <= var.lambda.timeout_seconds - 20
    error_message = "tick.budget_seconds must be at most lambda.timeout_seconds - 20: a round may overrun the budget by up to 15 s (gate.service.rounds.ROUND_GRACE_SECONDS) and the last calls need headroom."
  }

  validation {
    condition     = var.tick.budget_seconds == 0 || var.tick.recheck_interval_seconds <= var.tick.budget_seconds
    error_message = "tick.recheck_interval_seconds must be at most tick.budget_seconds (a budget of 0: one round per tick, no re-check)."
  }
}

# --- decision settings ----------------------------------------------------------------------------------------

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

  validation {
    condition = alltrue([
      for k, r in local.settings.ranges.hold :
      (r.min_inclusive ? var.hold[k] >= r.min : var.hold[k] > r.min) && (r.max_inclusive ? var.hold[k] <= r.max : var.hold[k] < r.max) && (!r.whole || floor(var.hold[k]) == var.hold[k])
    ])
    error_message = "hold: outside the gate's limits (settings.json, from gate/settings.py): ${join("; ", [for k, r in local.settings.ranges.hold : "${k} ${r.text}"])}."
  }

  validation {
    condition     = alltrue([for k, c in local.settings.choices.hold : contains(c.values, var.hold[k])])
    error_message = "hold: ${join("; ", [for k, c in local.settings.choices.hold : "${k} must be one of ${join(", ", c.values)}"])}."
  }

  validation {
    condition     = var.hold.max_seconds <= min(172800, 100 * var.hook.heartbeat_timeout_seconds)
    error_message = "hold.max_seconds must not exceed the hook's global timeout min(172800, 100 x hook.heartbeat_timeout_seconds): raise hook.heartbeat_timeout_seconds or lower hold.max_seconds."
  }

  validation {
    condition     = var.hold.heartbeat_interval_seconds <= var.hook.heartbeat_timeout_seconds - 2 * var.tick.interval_seconds
    error_message = "hold.heartbeat_interval_seconds must be <= hook.heartbeat_timeout_seconds - 2 x tick.interval_seconds, or a heartbeat due just after a tick arrives too late."
  }
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

  validation {
    condition     = length(var.tiers) <= 20 && length(distinct([for t in var.tiers : t.name])) == length(var.tiers)
    error_message = "tiers: at most 20, each with its own name."
  }

  validation {
    condition     = alltrue([for t in var.tiers : can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", t.name)) && t.name != "default"])
    error_message = "tiers: each name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit, and not \"default\" (the built-in tier)."
  }

  validation {
    condition = alltrue([
      for t in var.tiers : t.max_hold_seconds >= local.settings.ranges.hold.max_seconds.min && t.max_hold_seconds <= local.settings.ranges.hold.max_seconds.max && t.max_hold_seconds <= min(172800, 100 * var.hook.heartbeat_timeout_seconds)
    ])
    error_message = "tiers: each max_hold_seconds must be ${local.settings.ranges.hold.max_seconds.text} and at most the hook's global timeout min(172800, 100 x hook.heartbeat_timeout_seconds)."
  }

  validation {
    condition     = alltrue([for t in var.tiers : contains(local.settings.choices.hold.forced_result.values, t.forced_result)])
    error_message = "tiers: each forced_result must be one of ${join(", ", local.settings.choices.hold.forced_result.values)}."
  }

  validation {
    condition = alltrue(flatten([
      for t in var.tiers : [for p in concat(t.pipeline, t.plan_type, t.branch, t.stage, t.job, t.demands, t.labels) : length(trimspace(p)) > 0 && length(p) <= 256]
    ]))
    error_message = "tiers: every pattern must be a non-empty glob of at most 256 characters."
  }
}

# --- the CI system: Azure DevOps (default) or GitHub Actions ----------------------------------------------------

variable "agent_system" {
  description = "CI system whose agents the gate waits for: azure-devops (see azure_devops), github (see github) or gitlab (see gitlab) (GATE_AGENT_SYSTEM)."
  type        = string
  default     = "azure-devops"

  validation {
    condition     = contains(local.settings.choices.variables.agent_system.values, var.agent_system)
    error_message = "agent_system must be one of ${join(", ", local.settings.choices.variables.agent_system.values)}."
  }
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

  validation {
    condition     = alltrue([for k, c in local.settings.choices.agents : contains(c.values, var.agents[k])])
    error_message = "agents: ${join("; ", [for k, c in local.settings.choices.agents : "${k} must be one of ${join(", ", c.values)}"])}."
  }

  validation {
    condition = alltrue([
      for k, r in local.settings.ranges.agents :
      (r.min_inclusive ? var.agents[k] >= r.min : var.agents[k] > r.min) && (r.max_inclusive ? var.agents[k] <= r.max : var.agents[k] < r.max) && (!r.whole || floor(var.agents[k]) == var.agents[k])
    ])
    error_message = "agents: outside the gate's limits (settings.json, from gate/settings.py): ${join("; ", [for k, r in local.settings.ranges.agents : "${k} ${r.text}"])}."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,128}$", var.agents.capability_name))
    error_message = "agents.capability_name must be 1-128 characters of A-Z a-z 0-9 _ . -"
  }

  validation {
    condition     = var.agents.secret_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.agents.secret_kms_key_arn))
    error_message = "agents.secret_kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)."
  }

  validation {
    condition     = alltrue([for g in keys(var.agents.group_pools) : contains(var.autoscaling_group_names, g)])
    error_message = "Each agents.group_pools key must be one of autoscaling_group_names."
  }

  validation {
    condition = alltrue([
      for g, ps in var.agents.group_pools : length(ps) > 0 && alltrue([
        for p in ps : contains(var.agent_system == "github" ? concat(var.github.org == "" ? [] : [var.github.org], var.github.repos) : (var.agent_system == "gitlab" ? ["runners"] : var.azure_devops.pools), p)
      ])
    ])
    error_message = "Each agents.group_pools entry must list at least one pool, each one of azure_devops.pools (agent_system = github: github.org or github.repos; gitlab: runners)."
  }

  validation {
    condition     = var.agent_system != "gitlab" || var.agents.mapping != "hostname"
    error_message = "GitLab runners map by name, capability, ip or system-id (agents.mapping), not hostname."
  }
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

  validation {
    condition     = alltrue([for k, c in local.settings.choices.azure_devops : contains(c.values, var.azure_devops[k])])
    error_message = "azure_devops: ${join("; ", [for k, c in local.settings.choices.azure_devops : "${k} must be one of ${join(", ", c.values)}"])}."
  }

  validation {
    condition     = (var.agent_system != "azure-devops" && var.azure_devops.org_url == "") || can(regex("^(https://[A-Za-z0-9.-]+|http://(127\\.0\\.0\\.1|localhost))(:[0-9]+)?(/[A-Za-z0-9._~%-]+)*/?$", var.azure_devops.org_url))
    error_message = "azure_devops.org_url must be an https:// URL such as https://dev.azure.com/contoso (required with agent_system = azure-devops); plain http only for a loopback test server."
  }

  validation {
    condition     = var.agent_system != "azure-devops" || length(var.azure_devops.pools) > 0
    error_message = "azure_devops.pools must name at least one agent pool."
  }

  validation {
    condition     = alltrue([for p in var.azure_devops.pools : trimspace(p) != "" && !strcontains(p, ",")])
    error_message = "Pool names must be non-empty and contain no ',' (GATE_POOLS is comma-separated)."
  }

  validation {
    condition     = ((var.agent_system != "azure-devops" || var.azure_devops.auth == "entra") && var.azure_devops.pat_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.azure_devops.pat_secret_arn))
    error_message = "azure_devops.pat_secret_arn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME); required with auth = pat, \"\" otherwise."
  }

  validation {
    condition     = (var.azure_devops.auth != "entra" && var.azure_devops.entra_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.azure_devops.entra_secret_arn))
    error_message = "azure_devops.entra_secret_arn must be a Secrets Manager secret ARN or an SSM parameter ARN (required with auth = entra, \"\" otherwise)."
  }

  validation {
    condition     = can(regex("^https://[^/?#]+/?$", var.azure_devops.entra_authority_host))
    error_message = "azure_devops.entra_authority_host must be an https URL with no path, e.g. https://login.microsoftonline.com."
  }

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+(-preview(\\.[0-9]+)?)?$", var.azure_devops.api_version))
    error_message = "azure_devops.api_version must look like 7.1, 7.0, 6.0 or 7.1-preview.1."
  }
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

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%-]+)*/?$", var.github.api_url))
    error_message = "github.api_url must be an https:// URL such as https://api.github.com."
  }

  validation {
    condition     = var.github.org == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github.org))
    error_message = "github.org must be \"\" or a GitHub organisation login."
  }

  validation {
    condition     = var.agent_system != "github" || var.github.org != "" || length(var.github.repos) > 0
    error_message = "agent_system = github needs github.org and/or github.repos."
  }

  validation {
    condition     = alltrue([for r in var.github.repos : can(regex("^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$", r))])
    error_message = "Each github.repos entry must be OWNER/REPO."
  }

  validation {
    condition     = (var.agent_system != "github" && var.github.token_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.github.token_secret_arn))
    error_message = "github.token_secret_arn must be a Secrets Manager secret ARN or an SSM parameter ARN (required with agent_system = github, \"\" otherwise)."
  }
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

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%-]+)*/?$", var.gitlab.url)) && !can(regex("/api/v4/?$", var.gitlab.url))
    error_message = "gitlab.url must be GitLab's https:// base URL (no /api/v4), such as https://gitlab.com."
  }

  validation {
    condition     = alltrue([for k, c in local.settings.choices.gitlab : contains(c.values, var.gitlab[k])])
    error_message = "gitlab: ${join("; ", [for k, c in local.settings.choices.gitlab : "${k} must be one of ${join(", ", c.values)}"])}."
  }

  validation {
    condition     = alltrue([for t in var.gitlab.tag_list : length(trimspace(t)) > 0 && !strcontains(t, ",")])
    error_message = "Each gitlab.tag_list entry must be a non-empty tag without commas."
  }

  validation {
    condition     = (var.agent_system != "gitlab" && var.gitlab.token_secret_arn == "") || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$", var.gitlab.token_secret_arn))
    error_message = "gitlab.token_secret_arn must be a Secrets Manager secret ARN or an SSM parameter ARN (required with agent_system = gitlab, \"\" otherwise)."
  }
}

# --- fleet features ---------------------------------------------------------------------------------------------

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

  validation {
    condition     = var.ecs.cluster_name == "" || can(regex("^[A-Za-z0-9_-]{1,255}$", var.ecs.cluster_name))
    error_message = "ecs.cluster_name must be \"\" or a cluster name (A-Z a-z 0-9 _ -, not an ARN)."
  }

  validation {
    condition     = !var.ecs.drain || var.ecs.cluster_name != ""
    error_message = "ecs.drain needs ecs.cluster_name."
  }

  validation {
    condition     = !var.ecs.wait_tasks || var.ecs.drain
    error_message = "ecs.wait_tasks needs ecs.drain."
  }

  validation {
    condition     = alltrue([for g in var.ecs.ignore_task_groups : trimspace(g) != "" && !strcontains(g, ",")])
    error_message = "Each ecs.ignore_task_groups entry must be non-empty and contain no ','."
  }
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

  validation {
    condition     = var.notifications.webhook_url == "" || startswith(var.notifications.webhook_url, "https://")
    error_message = "notifications.webhook_url must be \"\" or an https:// URL."
  }

  validation {
    condition     = alltrue([for k, c in local.settings.choices.notifications : contains(c.values, var.notifications[k])])
    error_message = "notifications: ${join("; ", [for k, c in local.settings.choices.notifications : "${k} must be one of ${join(", ", c.values)}"])}."
  }

  validation {
    condition = alltrue([
      for k, r in local.settings.ranges.notifications :
      (r.min_inclusive ? var.notifications[k] >= r.min : var.notifications[k] > r.min) && (r.max_inclusive ? var.notifications[k] <= r.max : var.notifications[k] < r.max) && (!r.whole || floor(var.notifications[k]) == var.notifications[k])
    ])
    error_message = "notifications: outside the gate's limits (settings.json, from gate/settings.py): ${join("; ", [for k, r in local.settings.ranges.notifications : "${k} ${r.text}"])}."
  }
}

# --- wiring -----------------------------------------------------------------------------------------------------

variable "handle_spot_interruptions" {
  description = "Also route EC2 Spot Instance Interruption Warnings to the gate (best effort: a hook cannot delay Spot reclaim)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log groups, DLQ, alarm topic and environment; null for AWS-managed encryption. Grants kms:GenerateDataKey/Decrypt via SQS for the DLQ."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias)."
  }
}

variable "create_dlq" {
  description = "Create the dead-letter queue for failed asynchronous invocations (and grant sqs:SendMessage to it)."
  type        = bool
  default     = true
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

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.lambda.runtime)
    error_message = "lambda.runtime must be python3.11, python3.12 or python3.13."
  }

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda.architecture)
    error_message = "lambda.architecture must be x86_64 or arm64."
  }

  validation {
    condition     = var.lambda.timeout_seconds >= 30 && var.lambda.timeout_seconds <= 900
    error_message = "lambda.timeout_seconds must be between 30 and 900."
  }

  validation {
    condition     = var.lambda.memory_mb >= 128 && var.lambda.memory_mb <= 10240
    error_message = "lambda.memory_mb must be between 128 and 10240."
  }

  validation {
    condition     = var.lambda.reserved_concurrent_executions == null || try(var.lambda.reserved_concurrent_executions >= 1, false)
    error_message = "lambda.reserved_concurrent_executions must be null or >= 1 (0 would disable the gate and strand every hook)."
  }

  validation {
    condition     = var.lambda.maximum_retry_attempts >= 0 && var.lambda.maximum_retry_attempts <= 2
    error_message = "lambda.maximum_retry_attempts must be 0, 1 or 2 (Lambda limits)."
  }

  validation {
    condition     = var.lambda.maximum_event_age_seconds >= 60 && var.lambda.maximum_event_age_seconds <= 21600
    error_message = "lambda.maximum_event_age_seconds must be between 60 and 21600 (Lambda limits)."
  }
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

  validation {
    condition     = alltrue([for k, c in local.settings.choices.monitoring : contains(c.values, var.monitoring[k])])
    error_message = "monitoring: ${join("; ", [for k, c in local.settings.choices.monitoring : "${k} must be one of ${join(", ", c.values)}"])}."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.monitoring.metrics_namespace)) && !startswith(var.monitoring.metrics_namespace, "AWS/")
    error_message = "monitoring.metrics_namespace must be 1-255 characters of A-Z a-z 0-9 . _ / # : - and must not start with AWS/."
  }

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.monitoring.log_retention_days)
    error_message = "monitoring.log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653) or 0."
  }

  validation {
    condition     = var.monitoring.failsafe_hold_alarm_minutes >= 5 && var.monitoring.failsafe_hold_alarm_minutes <= 1440 && var.monitoring.failsafe_hold_alarm_minutes % 5 == 0
    error_message = "monitoring.failsafe_hold_alarm_minutes must be a multiple of 5 between 5 and 1440 (the alarm evaluates 5-minute periods, at most one day)."
  }

  validation {
    condition     = var.monitoring.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+(\\.fifo)?$", var.monitoring.alarm_sns_topic_arn))
    error_message = "monitoring.alarm_sns_topic_arn must be null or an SNS topic ARN."
  }

  validation {
    condition     = !(var.monitoring.create_alarm_topic && var.monitoring.alarm_sns_topic_arn != null)
    error_message = "Set either monitoring.create_alarm_topic or monitoring.alarm_sns_topic_arn, not both."
  }
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

  validation {
    condition     = var.service_hook.secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.service_hook.secret_arn))
    error_message = "service_hook.secret_arn must be a Secrets Manager secret ARN."
  }

  validation {
    condition     = !var.service_hook.enabled || var.service_hook.secret_arn != null
    error_message = "service_hook.enabled needs service_hook.secret_arn: the receiver refuses every call without a secret."
  }

  validation {
    condition     = var.service_hook.concurrency >= 1 && var.service_hook.concurrency <= 10 && floor(var.service_hook.concurrency) == var.service_hook.concurrency
    error_message = "service_hook.concurrency must be a whole number between 1 and 10."
  }

  validation {
    condition     = var.service_hook.window_seconds >= 1 && var.service_hook.window_seconds <= 60
    error_message = "service_hook.window_seconds must be between 1 and 60 (rounds at least this far apart)."
  }

  validation {
    condition     = var.service_hook.role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.service_hook.role_arn))
    error_message = "service_hook.role_arn must be null or an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)."
  }
}
