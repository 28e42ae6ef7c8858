# Provider-free on purpose: no resources, no data sources, only variables, locals and outputs. That keeps
# `terraform init/validate/test` runnable offline (no provider download), so the event patterns, the IAM policy,
# the names/ARNs, the environment and every variable validation are unit-tested by tests/*.tftest.hcl.
terraform {
  # >= 1.9: validation conditions refer to other variables (heartbeat vs. tick, max hold vs. heartbeat).
  required_version = ">= 1.9.0"
}
