# The one-off tasks (`migrate`, `topics`: run by hand or by the deploy workflow) and
# the scheduled jobs (EventBridge rules): task definitions only, no services, with the
# services' image and environment, the database URL (the master user's for migrate,
# which also makes the application's role) and the Redis and Kafka passwords, and the
# role EventBridge starts the jobs with.

locals {
  task_secrets = {
    for task in keys(local.tasks) : task => merge(
      task == "migrate" ? tomap(local.migrate_secrets) : tomap(local.database_secret),
      local.connection_secrets,
    )
  }
}

resource "aws_cloudwatch_log_group" "task" {
  for_each          = local.tasks
  name              = "${local.log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

# Bridge networking like the services (see modules/ecs-service), so `aws ecs run-task`
# needs no network configuration.
resource "aws_ecs_task_definition" "task" {
  for_each                 = local.tasks
  family                   = "${local.name}-${each.key}"
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.job_task.arn

  container_definitions = jsonencode([{
    name              = each.key
    image             = local.job_image
    command           = each.value
    essential         = true
    cpu               = local.sizing[each.key].cpu
    memory            = local.sizing[each.key].memory
    memoryReservation = local.sizing[each.key].memory_reservation
    environment       = [for key, value in local.common_environment : { name = key, value = value }]
    secrets           = [for key, arn in local.task_secrets[each.key] : { name = key, valueFrom = arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.task[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])

  tags = local.tags
}

data "aws_iam_policy_document" "assume_events" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

# EventBridge starting the scheduled jobs: run their task definitions (any revision:
# the deploy workflow registers new ones) on this cluster, and hand ECS the two roles
# those tasks use.
data "aws_iam_policy_document" "events" {
  statement {
    actions = ["ecs:RunTask"]
    resources = flatten([for job in keys(local.scheduled_jobs) : [
      aws_ecs_task_definition.task[job].arn_without_revision,
      "${aws_ecs_task_definition.task[job].arn_without_revision}:*",
    ]])
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [module.ecs_cluster.cluster_arn]
    }
  }
  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.job_task.arn]
    condition {
      test     = "StringLike"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "events" {
  name               = "${local.name}-scheduled-jobs"
  assume_role_policy = data.aws_iam_policy_document.assume_events.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "events" {
  name   = "${local.name}-scheduled-jobs"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}

resource "aws_cloudwatch_event_rule" "job" {
  for_each            = local.scheduled_jobs
  name                = "${local.name}-${each.key}"
  description         = "alerting ${join(" ", each.value.command)}"
  schedule_expression = each.value.schedule
  tags                = local.tags
}

# The task definition without a revision: RunTask then takes the latest one, the one
# the deploy workflow registered with the running commit's image.
resource "aws_cloudwatch_event_target" "job" {
  for_each  = local.scheduled_jobs
  rule      = aws_cloudwatch_event_rule.job[each.key].name
  target_id = each.key
  arn       = module.ecs_cluster.cluster_arn
  role_arn  = aws_iam_role.events.arn
  ecs_target {
    task_definition_arn = aws_ecs_task_definition.task[each.key].arn_without_revision
    task_count          = 1
    # The capacity provider, not launch type EC2: a task that does not fit waits for
    # the provider to add a host instead of failing.
    capacity_provider_strategy {
      capacity_provider = module.ecs_cluster.capacity_provider
      weight            = 1
    }
  }
}
