variable "region" {
  description = "Region of the existing group."
  type        = string
  default     = "eu-west-1"
}

variable "autoscaling_group_name" {
  description = "The existing Auto Scaling group whose instances run GitLab Runner."
  type        = string
}

variable "gitlab_url" {
  description = "GitLab's base URL: https://gitlab.com, or your self-managed instance (without /api/v4)."
  type        = string
  default     = "https://gitlab.com"
}

variable "gitlab_token_secret_arn" {
  description = "Secrets Manager secret (or SSM SecureString parameter) ARN of an access token that may manage the runners: a group access token with the Owner role and the manage_runner scope (else api)."
  type        = string
}

variable "gitlab_tag_list" {
  description = "Only runners carrying all these tags are listed: a shorter list per round."
  type        = list(string)
  default     = []
}

variable "shared_runner" {
  description = "true: one runner shared by every instance, its managers matched by private IP (needs GitLab to see private IPs and the instance guard); false: a runner per instance whose description names the instance id."
  type        = bool
  default     = false
}

variable "lambda_zip_path" {
  description = "Deployment package built by `make package`."
  type        = string
  default     = "../../../build/gate-lambda.zip"
}
