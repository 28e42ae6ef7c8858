variable "region" {
  description = "Region of the existing group."
  type        = string
  default     = "eu-west-1"
}

variable "autoscaling_group_name" {
  description = "The existing Auto Scaling group whose instances run GitHub Actions self-hosted runners."
  type        = string
}

variable "github_org" {
  description = "Organisation whose organisation-level runners to watch; \"\" for repository runners only."
  type        = string
  default     = ""
}

variable "github_repos" {
  description = "Repositories (OWNER/REPO) whose repository-level runners to watch."
  type        = list(string)
  default     = []
}

variable "github_token_secret_arn" {
  description = "Secrets Manager secret (or SSM SecureString parameter) ARN of a token that may read and delete self-hosted runners (fine-grained: organisation Self-hosted runners read & write)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Deployment package built by `make package`."
  type        = string
  default     = "../../../build/gate-lambda.zip"
}
