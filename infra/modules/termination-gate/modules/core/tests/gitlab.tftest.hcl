# GitLab runners (agent_system = gitlab): the environment, the token's secret, and the validations of the gitlab input.

variables {
  name                    = "gate"
  partition               = "aws"
  region                  = "eu-west-1"
  account_id              = "123456789012"
  autoscaling_group_names = ["runners-a"]
  agent_system            = "gitlab"
  gitlab = {
    url              = "https://gitlab.example.com"
    token_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab/token-AbC123"
    tag_list         = ["asg", "docker"]
  }
}

run "gitlab_environment" {
  command = plan

  assert {
    condition     = output.environment.GATE_AGENT_SYSTEM == "gitlab" && output.environment.GATE_GITLAB_URL == "https://gitlab.example.com"
    error_message = "agent_system and gitlab.url must reach the gate."
  }

  assert {
    condition     = output.environment.GATE_GITLAB_TOKEN_SECRET_ARN == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab/token-AbC123" && output.environment.GATE_GITLAB_RUNNERS == "owned" && output.environment.GATE_GITLAB_TAG_LIST == "asg,docker"
    error_message = "The GitLab token secret, runner list and tags must reach the gate."
  }
}

run "gitlab_shared_runner_by_ip" {
  command = plan
  variables {
    agents = { mapping = "ip", group_pools = { "runners-a" = ["runners"] } }
  }

  assert {
    condition     = output.environment.GATE_MAPPING == "ip" && jsondecode(output.environment.GATE_GROUP_POOLS) == { "runners-a" = ["runners"] }
    error_message = "ip mapping and the runners pool must be accepted with agent_system = gitlab."
  }
}

run "gitlab_needs_its_token" {
  command = plan
  variables {
    gitlab = { url = "https://gitlab.com" }
  }
  expect_failures = [var.gitlab]
}

run "gitlab_url_is_the_base_url" {
  command = plan
  variables {
    gitlab = { url = "https://gitlab.com/api/v4", token_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab/token-AbC123" }
  }
  expect_failures = [var.gitlab]
}

run "gitlab_runners_choice" {
  command = plan
  variables {
    gitlab = { runners = "mine", token_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitlab/token-AbC123" }
  }
  expect_failures = [var.gitlab]
}

run "gitlab_no_hostname_mapping" {
  command = plan
  variables {
    agents = { mapping = "hostname" }
  }
  expect_failures = [var.agents]
}
