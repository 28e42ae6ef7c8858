variable "region" {
  description = "Region of the existing group."
  type        = string
  default     = "eu-west-1"
}

variable "autoscaling_group_name" {
  description = "The existing Auto Scaling group whose instances run the Azure DevOps agents."
  type        = string
}

variable "more_autoscaling_group_names" {
  description = "Other groups to gate with the same function, once the first one is live (docs/deployment.md, step 10)."
  type        = list(string)
  default     = []
}

variable "azure_org_url" {
  description = "Azure DevOps organisation URL, e.g. https://dev.azure.com/contoso."
  type        = string
}

variable "pools" {
  description = "Agent pools the group's agents register in."
  type        = list(string)
}

variable "pat_secret_arn" {
  description = "Secrets Manager secret (or SSM SecureString parameter) ARN holding the PAT (scope vso.agentpools_manage)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Deployment package built by `make package`."
  type        = string
  default     = "../../../build/gate-lambda.zip"
}
