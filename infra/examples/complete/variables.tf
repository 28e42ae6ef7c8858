variable "region" {
  description = "Region of the existing group and cluster."
  type        = string
  default     = "eu-west-1"
}

variable "autoscaling_group_name" {
  description = "The existing Auto Scaling group whose instances run the Azure DevOps agents (as ECS tasks)."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster to create for the agents."
  type        = string
  default     = "azure-devops-agents"
}

variable "azure_org_url" {
  description = "Azure DevOps organisation URL."
  type        = string
}

variable "pools" {
  description = "Agent pools served by the group."
  type        = list(string)
}

variable "pat_secret_arn" {
  description = "Secrets Manager secret (or SSM SecureString parameter) ARN holding the PAT (scopes vso.agentpools_manage)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Deployment package built by `make package`."
  type        = string
  default     = "../../../build/gate-lambda.zip"
}

variable "alarm_email" {
  description = "Optional e-mail subscribed to the alarm topic; null for none."
  type        = string
  default     = null
}
