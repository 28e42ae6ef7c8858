terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The group's instance_lifecycle_policy (TerminateHookAbandon = retain) needs a 6.x release from after
      # July 2026 (hashicorp/terraform-provider-aws#48973); no 5.x release has it. The module itself needs >= 5.40.
      version = ">= 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}
