# Which image the task definitions Terraform registers name. The deploy workflow
# records every commit it deploys in an SSM parameter, and Terraform reads it back on
# each plan: so a later `terraform apply` registers the scheduled jobs' task
# definitions (which EventBridge runs as they are, latest revision) with the image
# that runs, never with a tag that does not exist. `image_tag` is needed once, on the
# first apply, before any deploy; given later it overrides the recorded one for that
# apply (the workflow's next deploy records its own again).

locals {
  image_tag = var.image_tag != "" ? var.image_tag : aws_ssm_parameter.image_tag.insecure_value
}

# Terraform makes it with the first image_tag and leaves it to the workflow after that;
# a refresh reads what the workflow last wrote. A commit hash: no secret.
resource "aws_ssm_parameter" "image_tag" {
  name           = "/${local.name}/image-tag"
  description    = "The commit the deploy workflow last deployed (its image tag in every service's repository)"
  type           = "String"
  insecure_value = var.image_tag != "" ? var.image_tag : "unset"
  tags           = local.tags
  lifecycle {
    ignore_changes = [insecure_value]
  }
}

resource "terraform_data" "image_tag" {
  lifecycle {
    precondition {
      condition     = local.image_tag != "unset"
      error_message = "No image is recorded yet: give the first apply -var image_tag=<commit> (the tag pushed to the ECR repositories, README step 3); after that the deploy workflow records each commit it deploys in /${local.name}/image-tag."
    }
  }
}
