# Whole-module test with a mocked AWS provider (no AWS account, no credentials). It still needs the hashicorp/aws
# provider *binary* for its schema: `terraform init` downloads it where the registry is reachable; offline,
# tests/infra/test_terraform.py runs this file only when a local provider mirror is available (see infra/README.md).
# Everything that needs no provider is tested in modules/core/tests (always runs, offline).

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  # Mocked ARNs must still be ARNs where the provider validates them.
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:gate" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/gate" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:gate-dlq" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:gate-alarms" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/gate" }
  }
}

variables {
  name                    = "gate"
  autoscaling_group_names = ["agents-a", "agents-b"]
  # Only hashed by filebase64sha256 here: any existing file will do.
  lambda_zip_path = "versions.tf"
  azure_devops = {
    org_url        = "https://dev.azure.com/contoso"
    pools          = ["linux"]
    pat_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
  }
}

run "wiring" {
  command = apply

  assert {
    condition = alltrue([
      for g in ["agents-a", "agents-b"] :
      aws_autoscaling_lifecycle_hook.gate[g].lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      aws_autoscaling_lifecycle_hook.gate[g].default_result == "CONTINUE" &&
      aws_autoscaling_lifecycle_hook.gate[g].heartbeat_timeout == 300 &&
      aws_autoscaling_lifecycle_hook.gate[g].name == "asg-termination-gate"
    ])
    error_message = "One terminating hook per group, DefaultResult explicit."
  }

  assert {
    condition = (
      module.gate_function.function.runtime == "python3.12" &&
      module.gate_function.function.handler == "gate.handler.handle" &&
      module.gate_function.function.architectures == tolist(["x86_64"]) &&
      module.gate_function.function.timeout == 70 &&
      module.gate_function.function.environment[0].variables["GATE_GROUPS"] == "agents-a,agents-b"
    )
    error_message = "Lambda settings wrong."
  }

  assert {
    condition = (
      keys(aws_cloudwatch_event_rule.gate) == ["lifecycle", "tick"] &&
      aws_cloudwatch_event_target.gate["lifecycle"].arn == module.gate_function.function.arn &&
      aws_cloudwatch_event_target.gate["tick"].arn == module.gate_function.function.arn &&
      aws_lambda_permission.gate["lifecycle"].source_arn == aws_cloudwatch_event_rule.gate["lifecycle"].arn &&
      aws_lambda_permission.gate["tick"].source_arn == aws_cloudwatch_event_rule.gate["tick"].arn &&
      aws_lambda_permission.gate["lifecycle"].statement_id == "AllowLifecycleRule" &&
      aws_lambda_permission.gate["tick"].statement_id == "AllowTickRule" &&
      aws_cloudwatch_event_rule.gate["tick"].schedule_expression == "rate(1 minute)" &&
      aws_cloudwatch_event_rule.gate["tick"].event_pattern == null &&
      length(aws_cloudwatch_event_target.gate["lifecycle"].retry_policy) == 0 &&
      aws_cloudwatch_event_target.gate["tick"].retry_policy[0].maximum_event_age_in_seconds == 60 &&
      aws_cloudwatch_event_target.gate["tick"].retry_policy[0].maximum_retry_attempts == 0
    )
    error_message = "Rules must target the Lambda, each with its own permission."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.gate["lifecycle"].event_pattern)["detail-type"] == ["EC2 Instance-terminate Lifecycle Action"]
    error_message = "Lifecycle rule pattern wrong."
  }

  assert {
    condition     = !contains(keys(aws_cloudwatch_event_rule.gate), "spot") && !contains(keys(aws_lambda_permission.gate), "spot")
    error_message = "No Spot rule by default."
  }

  assert {
    condition = (
      aws_lambda_function_event_invoke_config.gate.destination_config[0].on_failure[0].destination == aws_sqs_queue.dlq[0].arn &&
      aws_lambda_function_event_invoke_config.gate.maximum_retry_attempts == 2
    )
    error_message = "Failed invocations must go to the DLQ."
  }

  assert {
    condition     = module.gate_function.log_group.retention_in_days == 30 && module.gate_function.log_group.name == "/aws/lambda/gate"
    error_message = "Log group retention wrong."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.gate["forced_releases"].namespace == "AsgTerminationGate" &&
      aws_cloudwatch_metric_alarm.gate["forced_releases"].metric_name == "Decisions" &&
      aws_cloudwatch_metric_alarm.gate["forced_releases"].dimensions == tomap({ FunctionName = "gate", Outcome = "forced" }) &&
      aws_cloudwatch_metric_alarm.gate["error_decisions"].dimensions == tomap({ FunctionName = "gate", Outcome = "error" }) &&
      aws_cloudwatch_metric_alarm.gate["error_decisions"].metric_name == "Decisions" &&
      aws_cloudwatch_metric_alarm.gate["error_decisions"].threshold == 0 &&
      length(aws_cloudwatch_query_definition.gate) == 4 &&
      aws_cloudwatch_dashboard.gate[0].dashboard_name == "gate" &&
      length(module.gate_function.alarms["Errors"].alarm_actions) == 0
    )
    error_message = "Forced-release alarm must watch the gate's EMF metric."
  }

  assert {
    condition     = output.spot_rule_arn == null && output.alarm_topic_arn == null
    error_message = "Optional outputs must be null when off."
  }

  assert {
    condition     = output.alarm_names == ["gate-lambda-errors", "gate-dlq-not-empty", "gate-forced-releases", "gate-error-decisions", "gate-failsafe-holds"]
    error_message = "alarm_names lists the default alarms in their v0.1 order."
  }
}

run "alarm_names_lists_every_alarm" {
  command = plan

  variables {
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
    }
    audit     = { enabled = true }
    selection = { enabled = true }
  }

  assert {
    condition = output.alarm_names == [
      "gate-lambda-errors", "gate-dlq-not-empty", "gate-forced-releases", "gate-error-decisions", "gate-failsafe-holds",
      "gate-builds-killed-by-scale-in", "gate-recheck-error-decisions", "gate-recheck-forced-releases",
      "gate-recheck-errors", "gate-service-hook-errors", "gate-service-hook-throttles",
    ]
    error_message = "alarm_names lists every alarm the module creates, the v0.1 ones first."
  }

  assert {
    condition     = length(output.alarm_names) == length(aws_cloudwatch_metric_alarm.gate) + 1 + 1 + 2
    error_message = "alarm_names leaves no alarm out (the gate's, the re-check function's, the receiver's two)."
  }
}

run "spot_and_alarm_topic" {
  command = apply

  variables {
    handle_spot_interruptions = true
    monitoring = {
      create_alarm_topic = true
    }
  }

  assert {
    condition = (
      keys(aws_cloudwatch_event_rule.gate) == ["lifecycle", "spot", "tick"] &&
      aws_cloudwatch_event_target.gate["spot"].arn == module.gate_function.function.arn &&
      aws_lambda_permission.gate["spot"].source_arn == aws_cloudwatch_event_rule.gate["spot"].arn &&
      output.spot_rule_arn == aws_cloudwatch_event_rule.gate["spot"].arn
    )
    error_message = "Spot rule must target the Lambda with its own permission."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.gate["dlq_not_empty"].alarm_actions == toset([aws_sns_topic.alarms[0].arn])
    error_message = "Alarms must notify the created topic."
  }
}

run "code_from_s3_arm64_in_a_vpc_with_its_own_role" {
  command = apply

  variables {
    lambda_zip_path        = null
    s3_bucket              = "artifacts"
    s3_key                 = "gate/gate-lambda-arm64.zip"
    s3_object_version      = "3"
    vpc_subnet_ids         = ["subnet-0123456789abcdef0"]
    vpc_security_group_ids = ["sg-0123456789abcdef0"]
    lambda = {
      runtime      = "python3.13"
      architecture = "arm64"
    }
  }

  assert {
    condition = (
      module.gate_function.function.s3_bucket == "artifacts" &&
      module.gate_function.function.s3_key == "gate/gate-lambda-arm64.zip" &&
      module.gate_function.function.s3_object_version == "3" &&
      module.gate_function.function.filename == null &&
      module.gate_function.function.runtime == "python3.13" &&
      module.gate_function.function.architectures == tolist(["arm64"])
    )
    error_message = "Code from S3 with the chosen runtime and architecture."
  }

  assert {
    condition = (
      module.gate_function.function.vpc_config[0].subnet_ids == toset(["subnet-0123456789abcdef0"]) &&
      module.gate_function.function.vpc_config[0].security_group_ids == toset(["sg-0123456789abcdef0"]) &&
      endswith(aws_iam_role_policy_attachment.vpc[0].policy_arn, ":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
    )
    error_message = "In a VPC the function gets the subnets, security groups and ENI permissions."
  }
}

run "bring_your_own_role_and_nothing_optional" {
  command = apply

  variables {
    create_role = false
    role_arn    = "arn:aws:iam::123456789012:role/platform/gate"
    create_dlq  = false
    monitoring = {
      create_alarms            = false
      create_dashboard         = false
      create_query_definitions = false
    }
  }

  assert {
    condition = (
      length(aws_iam_role.gate) == 0 && length(aws_iam_role_policy.gate) == 0 &&
      module.gate_function.function.role == "arn:aws:iam::123456789012:role/platform/gate" &&
      output.role_arn == "arn:aws:iam::123456789012:role/platform/gate" &&
      strcontains(output.policy_json, "autoscaling:CompleteLifecycleAction")
    )
    error_message = "A given role is used as is; the policy is an output to attach to it."
  }

  assert {
    condition = (
      length(aws_sqs_queue.dlq) == 0 && output.dlq_arn == null &&
      length(aws_lambda_function_event_invoke_config.gate.destination_config) == 0 &&
      !strcontains(output.policy_json, "sqs:SendMessage") &&
      length(output.alarm_names) == 0 && output.dashboard_name == null && length(output.query_definition_names) == 0
    )
    error_message = "create_dlq/create_alarms/create_dashboard/create_query_definitions = false create none of them."
  }
}

# The inputs only this module sees (code, network, role) are validated here; the settings objects are validated
# once, in modules/core, and tested there (modules/core/tests, tests/infra/test_settings_ranges.py).

run "rejects_both_code_sources" {
  command = plan

  variables {
    s3_bucket = "artifacts"
    s3_key    = "gate.zip"
  }

  expect_failures = [var.s3_bucket]
}

run "rejects_a_role_arn_with_create_role" {
  command = plan

  variables {
    role_arn = "arn:aws:iam::123456789012:role/gate"
  }

  expect_failures = [var.role_arn]
}

run "rejects_subnets_without_security_groups" {
  command = plan

  variables {
    vpc_subnet_ids = ["subnet-0123456789abcdef0"]
  }

  expect_failures = [var.vpc_subnet_ids]
}

# A released package (docs/releases.md) names its runtime and architecture; the module takes it from S3 (or as a
# local file) without any build step, and refuses one built for another runtime or architecture.
run "released_package_from_s3" {
  command = plan

  variables {
    lambda_zip_path   = null
    s3_bucket         = "releases"
    s3_key            = "asg-termination-gate/v0.1.0/gate-lambda-0.1.0-python3.13-arm64.zip"
    s3_object_version = "7"
    source_code_hash  = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    lambda = {
      runtime      = "python3.13"
      architecture = "arm64"
    }
  }

  assert {
    condition = (
      module.gate_function.function.s3_key == "asg-termination-gate/v0.1.0/gate-lambda-0.1.0-python3.13-arm64.zip" &&
      module.gate_function.function.s3_object_version == "7" &&
      module.gate_function.function.source_code_hash == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" &&
      module.gate_function.function.runtime == "python3.13" &&
      module.gate_function.function.architectures == tolist(["arm64"])
    )
    error_message = "A released zip from S3, with its hash, for the runtime and architecture it names."
  }
}

run "rejects_a_released_package_for_another_architecture" {
  command = plan

  variables {
    lambda_zip_path = null
    s3_bucket       = "releases"
    s3_key          = "asg-termination-gate/v0.1.0/gate-lambda-0.1.0-python3.12-arm64.zip"
  }

  expect_failures = [var.s3_key]
}

run "rejects_a_released_zip_file_for_another_runtime" {
  command = plan

  variables {
    lambda_zip_path = "dist/gate-lambda-0.1.0-python3.11-x86_64.zip"
  }

  expect_failures = [var.lambda_zip_path]
}

run "service_hook_receiver" {
  command = apply

  variables {
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
    }
  }

  assert {
    condition = (
      module.service_hook_function[0].function.function_name == "gate-service-hook" &&
      module.service_hook_function[0].function.handler == "gate.servicehook.handle" &&
      module.service_hook_function[0].function.reserved_concurrent_executions == 2 &&
      module.service_hook_function[0].function.environment[0].variables["GATE_SERVICE_HOOK_SECRET_ARN"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123" &&
      !contains(keys(module.service_hook_function[0].function.environment[0].variables), "GATE_PAT_SECRET_ARN") &&
      module.service_hook_function[0].log_group.name == "/aws/lambda/gate-service-hook" &&
      aws_lambda_function_url.service_hook[0].authorization_type == "NONE"
    )
    error_message = "The receiver: its own function and log group, the shared secret's ARN in its environment, none of the gate's credentials."
  }

  assert {
    condition = (
      module.service_hook_function[0].function.role == aws_iam_role.service_hook[0].arn &&
      aws_iam_role.service_hook[0].name == "gate-service-hook" &&
      aws_iam_role_policy.service_hook[0].role == aws_iam_role.service_hook[0].id &&
      module.recheck_function[0].function.role == aws_iam_role.gate[0].arn &&
      module.recheck_function[0].function.handler == "gate.servicehook.consume" &&
      module.recheck_function[0].function.reserved_concurrent_executions == 1 &&
      module.recheck_function[0].function.environment[0].variables["GATE_SERVICE_HOOK_WINDOW_SECONDS"] == "5" &&
      aws_sqs_queue.recheck[0].fifo_queue &&
      !aws_sqs_queue.recheck[0].content_based_deduplication &&
      aws_lambda_event_source_mapping.recheck[0].batch_size == 10
    )
    error_message = "The receiver runs under its own role; the re-check function under the gate's, alone, fed by the FIFO queue."
  }

  assert {
    condition = (
      aws_lambda_permission.service_hook_url[0].action == "lambda:InvokeFunctionUrl" &&
      aws_lambda_permission.service_hook_url[0].principal == "*" &&
      aws_lambda_permission.service_hook_url[0].function_url_auth_type == "NONE" &&
      aws_lambda_permission.service_hook_url[0].function_name == "gate-service-hook"
    )
    error_message = "The function URL's public permission is declared, not left to the provider."
  }

  assert {
    condition = (
      module.service_hook_function[0].alarms["Errors"].metric_name == "Errors" &&
      module.service_hook_function[0].alarms["Throttles"].metric_name == "Throttles" &&
      module.service_hook_function[0].alarms["Throttles"].dimensions.FunctionName == "gate-service-hook" &&
      aws_cloudwatch_metric_alarm.gate["recheck_forced_releases"].dimensions.FunctionName == "gate-recheck" &&
      aws_cloudwatch_metric_alarm.gate["recheck_forced_releases"].dimensions.Outcome == "forced" &&
      aws_cloudwatch_metric_alarm.gate["recheck_error_decisions"].dimensions.FunctionName == "gate-recheck" &&
      aws_cloudwatch_metric_alarm.gate["recheck_error_decisions"].dimensions.Outcome == "error"
    )
    error_message = "The receiver's errors and throttles alarm; the re-check function's forced and error decisions alarm like the tick's."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.gate[0].policy, "ado/hook")
    error_message = "The gate's role does not read the hook secret."
  }

  assert {
    condition = alltrue([
      for q in aws_cloudwatch_query_definition.gate : join(",", q.log_group_names) == "/aws/lambda/gate,/aws/lambda/gate-recheck,/aws/lambda/gate-service-hook"
    ])
    error_message = "The saved Logs Insights queries read the re-check function's and the receiver's log groups too."
  }
}

run "service_hook_bring_your_own_roles" {
  command = plan

  variables {
    create_role = false
    role_arn    = "arn:aws:iam::123456789012:role/my-gate"
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
      role_arn   = "arn:aws:iam::123456789012:role/my-hook"
    }
  }

  assert {
    condition = (
      module.service_hook_function[0].function.role == "arn:aws:iam::123456789012:role/my-hook" &&
      module.recheck_function[0].function.role == "arn:aws:iam::123456789012:role/my-gate" &&
      length(aws_iam_role.service_hook) == 0 &&
      strcontains(output.policy_json, "TakeServiceHookRechecks") &&
      strcontains(output.service_hook_policy_json, "ServiceHookQueue")
    )
    error_message = "Bring your own roles: the receiver's and the gate's, each with its own policy output."
  }
}

run "service_hook_needs_its_own_role_without_create_role" {
  command = plan

  variables {
    create_role = false
    role_arn    = "arn:aws:iam::123456789012:role/my-gate"
    service_hook = {
      enabled    = true
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/hook-AbC123"
    }
  }

  expect_failures = [aws_sqs_queue.recheck]
}
