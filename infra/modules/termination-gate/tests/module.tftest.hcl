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
  azure_org_url           = "https://dev.azure.com/contoso"
  pools                   = ["linux"]
  pat_secret_arn          = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ado/pat-AbC123"
  # Only hashed by filebase64sha256 here: any existing file will do.
  lambda_zip_path = "versions.tf"
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
      aws_lambda_function.gate.runtime == "python3.12" &&
      aws_lambda_function.gate.handler == "gate.handler.handle" &&
      aws_lambda_function.gate.architectures == tolist(["x86_64"]) &&
      aws_lambda_function.gate.timeout == 70 &&
      aws_lambda_function.gate.environment[0].variables["GATE_GROUPS"] == "agents-a,agents-b"
    )
    error_message = "Lambda settings wrong."
  }

  assert {
    condition = (
      aws_cloudwatch_event_target.lifecycle.arn == aws_lambda_function.gate.arn &&
      aws_cloudwatch_event_target.tick.arn == aws_lambda_function.gate.arn &&
      aws_lambda_permission.lifecycle.source_arn == aws_cloudwatch_event_rule.lifecycle.arn &&
      aws_lambda_permission.tick.source_arn == aws_cloudwatch_event_rule.tick.arn &&
      aws_cloudwatch_event_rule.tick.schedule_expression == "rate(1 minute)"
    )
    error_message = "Rules must target the Lambda, each with its own permission."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.lifecycle.event_pattern)["detail-type"] == ["EC2 Instance-terminate Lifecycle Action"]
    error_message = "Lifecycle rule pattern wrong."
  }

  assert {
    condition     = length(aws_cloudwatch_event_rule.spot) == 0 && length(aws_lambda_permission.spot) == 0
    error_message = "No Spot rule by default."
  }

  assert {
    condition = (
      aws_lambda_function_event_invoke_config.gate.destination_config[0].on_failure[0].destination == aws_sqs_queue.dlq.arn &&
      aws_lambda_function_event_invoke_config.gate.maximum_retry_attempts == 2
    )
    error_message = "Failed invocations must go to the DLQ."
  }

  assert {
    condition     = aws_cloudwatch_log_group.gate.retention_in_days == 30 && aws_cloudwatch_log_group.gate.name == "/aws/lambda/gate"
    error_message = "Log group retention wrong."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.forced_releases.namespace == "AsgTerminationGate" &&
      aws_cloudwatch_metric_alarm.forced_releases.metric_name == "Decisions" &&
      aws_cloudwatch_metric_alarm.forced_releases.dimensions == tomap({ FunctionName = "gate", Outcome = "forced" }) &&
      aws_cloudwatch_metric_alarm.error_decisions.dimensions == tomap({ FunctionName = "gate", Outcome = "error" }) &&
      aws_cloudwatch_metric_alarm.error_decisions.metric_name == "Decisions" &&
      aws_cloudwatch_metric_alarm.error_decisions.threshold == 0 &&
      length(aws_cloudwatch_query_definition.gate) == 4 &&
      aws_cloudwatch_dashboard.gate[0].dashboard_name == "gate" &&
      length(aws_cloudwatch_metric_alarm.lambda_errors.alarm_actions) == 0
    )
    error_message = "Forced-release alarm must watch the gate's EMF metric."
  }

  assert {
    condition     = output.spot_rule_arn == null && output.alarm_topic_arn == null
    error_message = "Optional outputs must be null when off."
  }
}

run "spot_and_alarm_topic" {
  command = apply

  variables {
    handle_spot_interruptions = true
    create_alarm_topic        = true
  }

  assert {
    condition = (
      length(aws_cloudwatch_event_rule.spot) == 1 &&
      aws_cloudwatch_event_target.spot[0].arn == aws_lambda_function.gate.arn &&
      aws_lambda_permission.spot[0].source_arn == aws_cloudwatch_event_rule.spot[0].arn
    )
    error_message = "Spot rule must target the Lambda with its own permission."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_actions == toset([aws_sns_topic.alarms[0].arn])
    error_message = "Alarms must notify the created topic."
  }
}
