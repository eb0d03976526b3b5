# One service of the platform on the ECS hosts: its log group, task role, task
# definition and ECS service, and, when `autoscaling` is on, target tracking on CPU and
# memory between `min_count` and `max_count` tasks. The service and the task definition
# family are both <prefix>-<name>, the names .github/workflows/deploy.yml uses.

locals {
  family = "${var.prefix}-${var.name}"
  http   = var.container_port != null
}

resource "aws_cloudwatch_log_group" "this" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# What the service's own code may do in AWS; a role per service, so one can be given
# more without the others.
resource "aws_iam_role" "task" {
  name               = "${local.family}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "${local.family}-task"
  role   = aws_iam_role.task.id
  policy = var.task_role_policy_json
}

# Bridge networking, not awsvpc: a t3.micro host has two network interfaces, one its
# own, so awsvpc would fit a single task per host. In bridge mode tasks share the
# host's interface (and its security group), and the HTTP services take a dynamic host
# port that the load balancer's target group learns from ECS.
resource "aws_ecs_task_definition" "this" {
  family                   = local.family
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = aws_iam_role.task.arn

  container_definitions = jsonencode([merge(
    {
      name              = var.name
      image             = var.image
      command           = var.command
      essential         = true
      cpu               = var.cpu
      memory            = var.memory
      memoryReservation = var.memory_reservation
      portMappings      = local.http ? [{ containerPort = var.container_port, hostPort = 0, protocol = "tcp" }] : []
      environment       = [for key, value in var.environment : { name = key, value = value }]
      secrets           = [for key, arn in var.secrets : { name = key, valueFrom = arn }]
      stopTimeout       = 30
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = var.region
          awslogs-stream-prefix = var.name
        }
      }
    },
    var.health_check_command == null ? {} : {
      healthCheck = {
        command     = var.health_check_command
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
    },
  )])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name            = local.family
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = var.desired_count

  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  health_check_grace_period_seconds  = local.http ? 30 : null

  capacity_provider_strategy {
    capacity_provider = var.capacity_provider
    weight            = 1
  }

  # Across availability zones first, then as few hosts as possible: the capacity
  # provider can only give back hosts that run nothing.
  ordered_placement_strategy {
    type  = "spread"
    field = "attribute:ecs.availability-zone"
  }
  ordered_placement_strategy {
    type  = "binpack"
    field = "memory"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "load_balancer" {
    # Decided by the port, known at plan time; the target group's ARN may not be yet.
    for_each = local.http ? [1] : []
    content {
      target_group_arn = var.target_group_arn
      container_name   = var.name
      container_port   = var.container_port
    }
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"
  tags                    = var.tags

  # After the first apply the deploy workflow owns the task definition (it registers a
  # revision per commit, starting from the latest one, so changes made here still
  # reach the service on the next deploy) and the autoscaler owns the task count;
  # Terraform undoing either on every apply would roll back a deploy or a scale-out.
  lifecycle {
    ignore_changes = [desired_count, task_definition]
  }
}

resource "aws_appautoscaling_target" "this" {
  count              = var.autoscaling ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  count              = var.autoscaling ? 1 : 0
  name               = "${local.family}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target
    scale_out_cooldown = var.scale_out_cooldown
    scale_in_cooldown  = var.scale_in_cooldown
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "memory" {
  count              = var.autoscaling ? 1 : 0
  name               = "${local.family}-memory"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.memory_target
    scale_out_cooldown = var.scale_out_cooldown
    scale_in_cooldown  = var.scale_in_cooldown
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageMemoryUtilization"
    }
  }
}
