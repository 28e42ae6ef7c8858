# The gate for GitHub Actions self-hosted runners: an existing Auto Scaling group whose instances run runners
# registered to an organisation (and/or repositories), named after the instance (e.g. runner-i-0abc...). The gate
# holds a chosen instance until its runner is idle, then deletes the runner registration and completes the hook.

module "termination_gate" {
  source = "../../modules/termination-gate"
  # From a release instead of this checkout (v0.2.0 or later; v0.1 took one variable per setting):
  # source = "git::https://github.com/OWNER/asg-termination-gate.git//infra/modules/termination-gate?ref=v0.2.0"

  name                    = "github-runners-gate"
  autoscaling_group_names = [var.autoscaling_group_name]
  lambda_zip_path         = var.lambda_zip_path

  agent_system = "github"
  github = {
    org              = var.github_org
    repos            = var.github_repos
    token_secret_arn = var.github_token_secret_arn
    # GitHub Enterprise Server: api_url = "https://github.example.com/api/v3"
  }

  # Runners that pick up a job within a minute of the scale-in decision are held too; jobs up to 6 h (GitHub's
  # limit for self-hosted runners is 5 days, so size hold.max_seconds to your longest job).
  hook = {
    heartbeat_timeout_seconds = 600
  }
  hold = {
    max_seconds = 21600
  }

  monitoring = {
    create_alarm_topic = true
  }
}
