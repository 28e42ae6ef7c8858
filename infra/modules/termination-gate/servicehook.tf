# Optional: the Azure DevOps service hook receiver (gate/servicehook.py; docs/operations.md, "The service hook
# receiver"). Off by default (service_hook.enabled); the tick alone is complete without it.
#
#   Azure DevOps --POST--> function URL --> receiver (its own role: the secret, the queue, its logs; answers 202 at
#   once) --one message per second (FIFO deduplication)--> queue --in order--> re-check function (the gate's code
#   and role, reserved concurrency 1): a round unless one already started after the calls, rounds
#   service_hook.window_seconds apart.
#
# The payload is a trigger only: the round uses the same agent list and rules as the tick. Names, policies,
# validations and the environments come from modules/core like everything else.

locals {
  service_hook         = var.service_hook.enabled ? 1 : 0
  service_hook_role    = var.service_hook.enabled && var.create_role ? 1 : 0
  service_hook_timeout = 10 # the receiver reads a secret (cached) and sends one message
  service_hook_role_arn = (
    var.service_hook.enabled ? (var.create_role ? aws_iam_role.service_hook[0].arn : var.service_hook.role_arn) : null
  )
}

# The receiver's own role: the gate's role (CompleteLifecycleAction, TerminateInstances, the PAT) never faces the
# internet, and the gate's role does not read the hook secret.
resource "aws_iam_role" "service_hook" {
  count = local.service_hook_role

  name                 = module.core.service_hook.role_name
  description          = "asg-termination-gate service hook receiver (${var.name}): its secret, its queue, its logs"
  assume_role_policy   = module.core.assume_role_policy_json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "service_hook" {
  count = local.service_hook_role

  name   = module.core.service_hook.policy_name
  role   = aws_iam_role.service_hook[0].id
  policy = module.core.service_hook_policy_json
}

resource "aws_iam_role_policy_attachment" "service_hook_vpc" {
  count = local.service_hook_role == 1 && length(var.vpc_subnet_ids) > 0 ? 1 : 0

  role       = aws_iam_role.service_hook[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# One message group (the re-check function takes it in order, one batch at a time); the receiver's deduplication
# id is the second of the call, so a storm reaches the queue as at most one message a second.
resource "aws_sqs_queue" "recheck" {
  count = local.service_hook

  name                        = module.core.service_hook.queue_name
  fifo_queue                  = true
  content_based_deduplication = false
  message_retention_seconds   = 3600 # a re-check older than the tick interval is worth nothing
  visibility_timeout_seconds  = module.core.lambda_timeout_seconds + 30
  sqs_managed_sse_enabled     = var.kms_key_arn == null ? true : null
  kms_master_key_id           = var.kms_key_arn
  tags                        = var.tags

  lifecycle {
    # Inputs are validated in modules/core; this one needs create_role, which core does not see. (Checked here, the
    # first resource of the receiver, which both functions wait on.)
    precondition {
      condition     = var.create_role == (var.service_hook.role_arn == null)
      error_message = "With service_hook.enabled: set service_hook.role_arn (the receiver's own role) exactly when create_role = false."
    }
  }
}

module "service_hook_function" {
  source = "./modules/function"
  count  = local.service_hook

  function_name                  = module.core.service_hook.function_name
  description                    = "Azure DevOps service hooks: authenticate, validate, hand a coalesced re-check to the queue, answer 202."
  role                           = local.service_hook_role_arn
  handler                        = "gate.servicehook.handle"
  timeout                        = local.service_hook_timeout
  reserved_concurrent_executions = module.core.service_hook.concurrency
  environment                    = merge(module.core.service_hook.environment, { GATE_SERVICE_HOOK_QUEUE_URL = aws_sqs_queue.recheck[0].url })
  common                         = local.function_common

  log_group = {
    name              = module.core.service_hook.log_group
    create            = true
    retention_in_days = var.monitoring.log_retention_days
  }
  # The receiver's own failures and throttles (bad input is answered 4xx and never counts as an error).
  alarms = var.monitoring.create_alarms ? {
    Errors = {
      name        = module.core.service_hook.alarms.errors
      description = "${var.name}: the service hook receiver raised errors (function errors; bad input is answered 4xx and never counts here)."
    }
    Throttles = {
      name        = module.core.service_hook.alarms.throttles
      description = "${var.name}: the service hook receiver was throttled (reserved concurrency ${var.service_hook.concurrency}): Azure DevOps deliveries got 429. A flood of calls, or raise service_hook.concurrency."
    }
  } : {}

  depends_on = [aws_iam_role_policy.service_hook]
}

# The re-check function: the gate's code, role and settings; one container at a time (reserved concurrency 1), so
# the coalescer's "last round started at" is the function's.
module "recheck_function" {
  source = "./modules/function"
  count  = local.service_hook

  function_name                  = module.core.service_hook.recheck_function
  description                    = "Termination gate: coalesced re-check rounds asked for by Azure DevOps service hooks."
  role                           = local.role_arn
  handler                        = "gate.servicehook.consume"
  timeout                        = module.core.lambda_timeout_seconds
  reserved_concurrent_executions = 1
  environment                    = merge(module.core.environment, module.core.service_hook.recheck_environment)
  common                         = local.function_common

  log_group = {
    name              = module.core.service_hook.recheck_log_group
    create            = true
    retention_in_days = var.monitoring.log_retention_days
  }
  alarms = var.monitoring.create_alarms ? {
    Errors = {
      name        = module.core.service_hook.alarms.recheck_errors
      description = "${var.name}: the re-check function raised errors; the tick still re-checks every minute."
    }
  } : {}

  depends_on = [aws_iam_role_policy.gate]
}

resource "aws_lambda_event_source_mapping" "recheck" {
  count = local.service_hook

  event_source_arn = aws_sqs_queue.recheck[0].arn
  function_name    = module.recheck_function[0].arn
  batch_size       = 10
}

resource "aws_lambda_function_url" "service_hook" {
  count = local.service_hook

  function_name = module.service_hook_function[0].function_name
  # Azure DevOps cannot sign AWS requests: the function checks the shared secret itself, in constant time.
  #checkov:skip=CKV_AWS_258:Azure DevOps web hooks cannot send SigV4; gate/servicehook.py checks a shared secret
  authorization_type = "NONE"
}

# Declared, not left to the provider: a public function URL needs lambda:InvokeFunctionUrl (auth type NONE).
resource "aws_lambda_permission" "service_hook_url" {
  count = local.service_hook

  #checkov:skip=CKV_AWS_301:The web hook's URL must be public (auth type NONE): Azure DevOps cannot sign requests; the function checks a shared secret
  statement_id           = "ServiceHookInvokeFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = module.service_hook_function[0].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# --- alarms: the re-check function's decisions like the gate's (its and the receiver's Errors and Throttles: above) ---

# The re-check function writes the same EMF decision lines as the gate, with its own FunctionName: its forced and
# error decisions alarm like the tick's (aws_cloudwatch_metric_alarm.gate, monitoring.tf).
locals {
  recheck_alarms = {
    recheck_forced_releases = {
      enabled     = var.service_hook.enabled
      name        = module.core.service_hook.alarms.recheck_forced
      description = "${var.name}: a re-check round released an instance at max hold (${var.hold.max_seconds} s) with its agents possibly still busy."
      metric_name = "Decisions"
      dimensions  = { FunctionName = one(module.recheck_function[*].function_name), Outcome = "forced" }
    }
    recheck_error_decisions = {
      enabled     = var.service_hook.enabled
      name        = module.core.service_hook.alarms.recheck_decision
      description = "${var.name}: a re-check round logged error decisions (Outcome=error)."
      metric_name = "Decisions"
      dimensions  = { FunctionName = one(module.recheck_function[*].function_name), Outcome = "error" }
    }
  }
}

output "service_hook_url" {
  description = "The function URL to give Azure DevOps (null unless service_hook.enabled)."
  value       = var.service_hook.enabled ? aws_lambda_function_url.service_hook[0].function_url : null
}

output "service_hook_subscription" {
  description = "What to enter in Azure DevOps (Project settings > Service hooks > Web Hooks), once per event type."
  value = var.service_hook.enabled ? {
    events                   = ["Build completed", "Run job state changed"]
    url                      = aws_lambda_function_url.service_hook[0].function_url
    basic_auth_username      = "gate"
    basic_auth_password      = "the value of ${module.core.service_hook.secret_arn} (at least 32 characters)"
    resource_details_to_send = "Minimal"
    messages_to_send         = "None"
  } : null
}

output "service_hook_policy_json" {
  description = "The service hook receiver's own role policy (JSON): its shared secret, its queue, its log group. Attach it to service_hook.role_arn when create_role = false (the re-check function's statements are in policy_json)."
  value       = module.core.service_hook_policy_json
}
