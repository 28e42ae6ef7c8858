data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# All names, ARNs, event patterns, the IAM policy, the Lambda environment and every variable validation come from
# this provider-free submodule (unit-tested offline with `terraform test`). The resources below only wire it up.
module "core" {
  source = "./modules/core"

  name       = var.name
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id # the region name in provider v5 and v6 (.name is deprecated in v6)
  account_id = data.aws_caller_identity.current.account_id

  autoscaling_group_names   = var.autoscaling_group_names
  hook_name                 = var.hook_name
  tick_interval_seconds     = var.tick_interval_seconds
  heartbeat_timeout_seconds = var.heartbeat_timeout_seconds
  default_result            = var.default_result
  max_hold_seconds          = var.max_hold_seconds

  agent_system               = var.agent_system
  azure_org_url              = var.azure_org_url
  pools                      = var.pools
  mapping                    = var.mapping
  capability_name            = var.capability_name
  pat_secret_arn             = var.pat_secret_arn
  pat_kms_key_arn            = var.pat_kms_key_arn
  github_api_url             = var.github_api_url
  github_org                 = var.github_org
  github_repos               = var.github_repos
  group_pools                = var.group_pools
  github_token_secret_arn    = var.github_token_secret_arn
  check_job_requests         = var.check_job_requests
  assignment_lag_seconds     = var.assignment_lag_seconds
  azure_auth                 = var.azure_auth
  entra_secret_arn           = var.entra_secret_arn
  entra_authority_host       = var.entra_authority_host
  azure_api_version          = var.azure_api_version
  secret_cache_seconds       = var.secret_cache_seconds
  http_timeout_seconds       = var.http_timeout_seconds
  max_retry_after_seconds    = var.max_retry_after_seconds
  idle_confirm_seconds       = var.idle_confirm_seconds
  unregistered_grace_seconds = var.unregistered_grace_seconds
  delete_agent_on_release    = var.delete_agent_on_release
  dry_run                    = var.dry_run
  lambda_timeout_seconds     = var.lambda_timeout_seconds
  tick_budget_seconds        = var.tick_budget_seconds
  recheck_interval_seconds   = var.recheck_interval_seconds
  forced_result              = var.forced_result
  heartbeat_interval_seconds = var.heartbeat_interval_seconds
  log_level                  = var.log_level
  metrics_namespace          = var.metrics_namespace
  protect_busy               = var.protect_busy
  ecs_cluster_name           = var.ecs_cluster_name
  ecs_drain                  = var.ecs_drain
  ecs_wait_tasks             = var.ecs_wait_tasks
  ecs_ignore_task_groups     = var.ecs_ignore_task_groups
  webhook_url                = var.webhook_url
  webhook_format             = var.webhook_format
  webhook_timeout_seconds    = var.webhook_timeout_seconds
  hold_notify_seconds        = var.hold_notify_seconds

  handle_spot_interruptions      = var.handle_spot_interruptions
  kms_key_arn                    = var.kms_key_arn
  lambda_memory_mb               = var.lambda_memory_mb
  reserved_concurrent_executions = var.reserved_concurrent_executions
  maximum_retry_attempts         = var.maximum_retry_attempts
  maximum_event_age_seconds      = var.maximum_event_age_seconds
  log_retention_days             = var.log_retention_days
  create_alarm_topic             = var.create_alarm_topic
  failsafe_hold_alarm_minutes    = var.failsafe_hold_alarm_minutes
  alarm_sns_topic_arn            = var.alarm_sns_topic_arn
  create_dlq                     = var.create_dlq
}
