# The smallest useful setup: the gate on an existing Auto Scaling group whose instances run Azure DevOps agents
# named after the instance (the default mapping: the agent name contains the instance id, e.g. agent-i-0abc...).

module "termination_gate" {
  source = "../../modules/termination-gate"
  # From a release instead of this checkout (v0.2.0 or later; v0.1 took one variable per setting):
  # source = "git::https://github.com/OWNER/asg-termination-gate.git//infra/modules/termination-gate?ref=v0.2.0"

  autoscaling_group_names = concat([var.autoscaling_group_name], var.more_autoscaling_group_names)
  lambda_zip_path         = var.lambda_zip_path # scripts/package_lambda.py (make package)

  azure_devops = {
    org_url        = var.azure_org_url
    pools          = var.pools
    pat_secret_arn = var.pat_secret_arn
  }
}
