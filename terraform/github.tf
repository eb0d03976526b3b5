# The role .github/workflows/deploy.yml assumes, through GitHub's OIDC provider: trusted
# only for runs of this repository's jobs in its protected environment
# (`github_environment`, which can require a reviewer and allow main only), and allowed
# exactly what the workflow does: push to the service repositories (and see whether a
# commit's images are there already), register task definitions, run the migrate task,
# roll the services of this cluster and wait for them, record the deployed commit
# (image_tag.tf), and hand ECS the roles the tasks run with.

locals {
  github_oidc_provider_arn = var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn : one(aws_iam_openid_connect_provider.github[*].arn)
  ecs_arn_prefix           = "arn:${data.aws_partition.current.partition}:ecs:${var.region}:${local.account_id}"
  cluster_name             = module.ecs_cluster.cluster_name
}

data "aws_partition" "current" {}

# One per account: pass github_oidc_provider_arn where there is one already.
resource "aws_iam_openid_connect_provider" "github" {
  count          = var.github_oidc_provider_arn == "" ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # AWS checks GitHub's tokens against its own trusted roots; older providers still
  # require thumbprints, so GitHub's two intermediate certificates' are given.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
  tags            = local.tags
}

data "aws_iam_policy_document" "assume_deploy" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    # A job that names the environment: no other branch, workflow or fork gets this
    # subject, and the environment's protection rules decide who may run it.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.github_environment}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = "${local.name}-deploy"
  description          = "Assumed by ${var.github_repository}'s deploy workflow in its ${var.github_environment} environment"
  assume_role_policy   = data.aws_iam_policy_document.assume_deploy.json
  max_session_duration = 3600
  tags                 = local.tags
}

data "aws_iam_policy_document" "deploy" {
  # docker login: the token has no resource of its own.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "EcrPush"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
      "ecr:DescribeImages", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = values(module.ecr.repository_arns)
  }
  # Neither takes a resource: task definitions are not scoped in IAM.
  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }
  statement {
    sid     = "RunMigrate"
    actions = ["ecs:RunTask"]
    resources = [
      aws_ecs_task_definition.task["migrate"].arn_without_revision,
      "${aws_ecs_task_definition.task["migrate"].arn_without_revision}:*",
    ]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [module.ecs_cluster.cluster_arn]
    }
  }
  statement {
    sid       = "WatchTasks"
    actions   = ["ecs:DescribeTasks"]
    resources = ["${local.ecs_arn_prefix}:task/${local.cluster_name}/*"]
  }
  statement {
    sid       = "RollServices"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [for service in module.service : service.service_arn]
  }
  statement {
    sid       = "RecordImageTag"
    actions   = ["ssm:PutParameter"]
    resources = [aws_ssm_parameter.image_tag.arn]
  }
  statement {
    sid     = "PassTaskRoles"
    actions = ["iam:PassRole"]
    resources = concat(
      [aws_iam_role.execution.arn, aws_iam_role.job_task.arn],
      [for service in module.service : service.task_role_arn],
    )
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "${local.name}-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}
