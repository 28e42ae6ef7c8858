# The four functions moved into modules/function (lambda.tf, selection.tf, servicehook.tf): these blocks carry a
# deployment made before that from the old addresses to the new ones, so `terraform plan` updates nothing instead
# of replacing the functions, their log groups and alarms (README, "Upgrading"). Keep them: removing one turns the
# next plan for such a deployment into a destroy and a create.

moved {
  from = aws_lambda_function.gate
  to   = module.gate_function.aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.gate
  to   = module.gate_function.aws_cloudwatch_log_group.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.lambda_errors[0]
  to   = module.gate_function.aws_cloudwatch_metric_alarm.this["Errors"]
}

moved {
  from = aws_lambda_function.selection[0]
  to   = module.selection_function[0].aws_lambda_function.this
}

moved {
  from = aws_lambda_function.service_hook[0]
  to   = module.service_hook_function[0].aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.service_hook[0]
  to   = module.service_hook_function[0].aws_cloudwatch_log_group.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.service_hook_errors[0]
  to   = module.service_hook_function[0].aws_cloudwatch_metric_alarm.this["Errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.service_hook_throttles[0]
  to   = module.service_hook_function[0].aws_cloudwatch_metric_alarm.this["Throttles"]
}

moved {
  from = aws_lambda_function.recheck[0]
  to   = module.recheck_function[0].aws_lambda_function.this
}

moved {
  from = aws_cloudwatch_log_group.recheck[0]
  to   = module.recheck_function[0].aws_cloudwatch_log_group.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.recheck_errors[0]
  to   = module.recheck_function[0].aws_cloudwatch_metric_alarm.this["Errors"]
}
