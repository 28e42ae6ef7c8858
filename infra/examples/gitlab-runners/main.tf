# The gate for GitLab CI runners on an existing Auto Scaling group. Two set-ups (docs/gitlab.md):
#  * a runner per instance, registered at boot with the instance id in its description (ci-i-0abc...): the gate pauses
#    it, holds the instance while a job of it runs, then deletes the runner and completes the hook;
#  * one runner shared by the whole group (mapping = "ip"): each instance is a runner manager, matched by the private
#    IP GitLab sees (self-managed GitLab in the same network); the gate never pauses the shared runner, the instance
#    guard (examples/instance-guard, gate-guard-gitlab.service) stops gitlab-runner gracefully, and the gate waits for
#    the manager's jobs.

module "termination_gate" {
  source = "../../modules/termination-gate"
  # From a release instead of this checkout:
  # source = "git::https://github.com/OWNER/asg-termination-gate.git//infra/modules/termination-gate?ref=v0.2.0"

  name                    = "gitlab-runners-gate"
  autoscaling_group_names = [var.autoscaling_group_name]
  lambda_zip_path         = var.lambda_zip_path

  agent_system = "gitlab"
  gitlab = {
    url              = var.gitlab_url
    token_secret_arn = var.gitlab_token_secret_arn
    tag_list         = var.gitlab_tag_list
  }
  agents = {
    mapping = var.shared_runner ? "ip" : "name"
  }

  # GitLab's default job timeout is 1 h and a project may raise it: size hold.max_seconds to your longest job.
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
