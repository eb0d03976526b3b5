terraform {
  required_version = ">= 1.10"
  # The state holds every password and token made here: it lives in S3, encrypted,
  # locked, in a bucket of its own (README, "Deploy", step 1). Partial: bucket, key and
  # region come from `terraform init -backend-config=backend.hcl` (see
  # backend.hcl.example), so no account's names are committed.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    # The generated passwords and tokens, and the self-hosted broker's cluster id.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}
