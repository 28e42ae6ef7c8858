variable "function_name" {
  description = "The function's name."
  type        = string
}

variable "description" {
  description = "The function's description."
  type        = string
}

variable "role" {
  description = "ARN of the execution role."
  type        = string
}

variable "handler" {
  description = "The handler in the gate's zip, module.function."
  type        = string
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency (null: unreserved)."
  type        = number
  default     = null
}

variable "environment" {
  description = "The function's environment variables."
  type        = map(string)
}

variable "common" {
  description = "What every function of the gate's zip shares: the code (a local zip_path or an S3 object, and the hash that redeploys it), runtime, architecture, memory, KMS key, VPC (none when subnet_ids is empty), the alarms' actions and the tags."
  type = object({
    runtime       = string
    architecture  = string
    memory_size   = number
    kms_key_arn   = optional(string)
    tags          = optional(map(string), {})
    alarm_actions = optional(list(string), [])
    code = object({
      zip_path          = optional(string)
      s3_bucket         = optional(string)
      s3_key            = optional(string)
      s3_object_version = optional(string)
      source_code_hash  = optional(string)
    })
    vpc = optional(object({
      subnet_ids         = optional(list(string), [])
      security_group_ids = optional(list(string), [])
    }), {})
  })
}

variable "log_group" {
  description = "create = true: the function's own log group of this name (retention_in_days); false: the function logs to this existing group."
  type = object({
    name              = string
    create            = bool
    retention_in_days = optional(number)
  })
}

variable "alarms" {
  description = "Lambda metric (Errors, Throttles) -> the alarm on it above 0 in 5 minutes: its name and description."
  type = map(object({
    name        = string
    description = string
  }))
  default = {}
}
