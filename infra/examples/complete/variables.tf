variable "region" {
  description = "Region of the group and cluster."
  type        = string
  default     = "eu-west-1"
}

variable "cluster_name" {
  description = "ECS cluster (and Auto Scaling group) of the agents."
  type        = string
  default     = "azure-devops-agents"
}

variable "subnet_ids" {
  description = "Subnets of the agent instances."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the agent instances."
  type        = list(string)
  default     = []
}

variable "instance_profile_name" {
  description = "Instance profile with the ECS container instance role (AmazonEC2ContainerServiceforEC2Role)."
  type        = string
}

variable "instance_type" {
  description = "Instance type of the agents."
  type        = string
  default     = "m7g.large"
}

variable "max_size" {
  description = "Largest number of agent instances."
  type        = number
  default     = 10
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
  description = "Secrets Manager secret (or SSM SecureString parameter) ARN holding the PAT (scope vso.agentpools_manage)."
  type        = string
}

variable "package_bucket" {
  description = "S3 bucket holding the gate's deployment package."
  type        = string
}

variable "package_key" {
  description = "S3 key of the package (built with scripts/package_lambda.py --runtime python3.12 --arch arm64)."
  type        = string
  default     = "asg-termination-gate/gate-lambda-arm64.zip"
}

variable "package_version" {
  description = "S3 object version of the package (versioned bucket); null for the latest."
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "Optional e-mail subscribed to the alarm topic; null for none."
  type        = string
  default     = null
}
