# The platform watched: CloudWatch alarms on the load balancer, the ECS services,
# Postgres, Redis, the platform's own metrics and the scheduled jobs, all to one SNS
# topic (an email subscription from `alarm_email`; subscribe more to the
# `alarm_topic_arn` output). Every alarm's description says what to look at first and
# names its runbook section in terraform/README.md ("Alarms"), which
# scripts/check-terraform.py checks exists. OK notifications go to the topic too, so a
# page that cleared by itself says so.

locals {
  runbook = "terraform/README.md#"
  # The consumers, whose lag is their own CloudWatch metric (ConsumerLag).
  consumers = ["evaluator", "aggregator", "sender"]
  # The platform's own metrics (CLOUDWATCH_METRICS): namespace and the dimensions every
  # service sends, besides Service.
  platform = { namespace = var.metrics_namespace, dimensions = { Environment = var.environment } }
  # Which services' task count Container Insights reports, and which only show as
  # running at all through their CPU samples.
  counted_by_insights = var.container_insights ? local.services : []
  counted_by_cpu      = var.container_insights ? [] : local.services
  # RDS's FreeStorageSpace is in bytes: alarm below a tenth of the allocated storage.
  db_free_storage_floor = var.db_allocated_storage * 0.1 * 1024 * 1024 * 1024

  # name => alarm: the defaults below, with what differs. `metrics`: id => one
  # CloudWatch metric; `expression`: what is compared when there is more than one
  # (null: the only metric is). Periods are in seconds; `periods` is how many are
  # evaluated, `datapoints` how many of them must breach.
  alarm_defaults = {
    comparison = "GreaterThanThreshold"
    threshold  = 0
    periods    = 1
    datapoints = 1
    missing    = "notBreaching"
    expression = null
  }
  alarms = merge(
    { for service, target_group in module.alb.target_group_arn_suffixes : "${service}-5xx-rate" => merge(local.alarm_defaults, {
      runbook    = "alb-5xx"
      summary    = "More than ${var.alarm_5xx_percent} % of the ${service}'s answers through the load balancer were 5xx for 10 minutes"
      first      = "the ${service}'s log group for errors, and whether Postgres, Redis or Kafka is down (the other alarms)"
      threshold  = var.alarm_5xx_percent
      periods    = 2
      datapoints = 2
      expression = "100 * FILL(errors, 0) / requests"
      metrics = {
        errors   = { namespace = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", stat = "Sum", period = 300, dimensions = { LoadBalancer = module.alb.arn_suffix, TargetGroup = target_group } }
        requests = { namespace = "AWS/ApplicationELB", metric = "RequestCount", stat = "Sum", period = 300, dimensions = { LoadBalancer = module.alb.arn_suffix, TargetGroup = target_group } }
      }
    }) },
    {
      "alb-5xx" = merge(local.alarm_defaults, {
        runbook   = "alb-5xx"
        summary   = "The load balancer itself answered 5xx (502, 503, 504: no healthy target, a target that closed the connection or timed out) more than 10 times in 5 minutes"
        first     = "the unhealthy-targets alarms and the services' task counts (aws ecs describe-services)"
        threshold = 10
        metrics = {
          m = { namespace = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", stat = "Sum", period = 300, dimensions = { LoadBalancer = module.alb.arn_suffix } }
        }
      })
    },
    { for service, target_group in module.alb.target_group_arn_suffixes : "${service}-unhealthy-targets" => merge(local.alarm_defaults, {
      runbook    = "alb-unhealthy-targets"
      summary    = "A ${service} target failed the load balancer's /health check for 5 minutes"
      first      = "the ${service}'s log group for its start-up line (a setting it refuses names itself) and /health's answer (it names the dependency that is down)"
      periods    = 5
      datapoints = 5
      metrics = {
        m = { namespace = "AWS/ApplicationELB", metric = "UnHealthyHostCount", stat = "Maximum", period = 60, dimensions = { LoadBalancer = module.alb.arn_suffix, TargetGroup = target_group } }
      }
    }) },
    # With Container Insights the running count is compared with the desired one; without
    # it (its cost), AWS/ECS reports a service only while a task of it runs, so a service
    # with none is missing data, which breaches. ecs_events below covers the tasks that
    # cannot be started or placed either way.
    { for service in local.counted_by_insights : "${service}-tasks-below-desired" => merge(local.alarm_defaults, {
      runbook    = "ecs-tasks-below-desired"
      summary    = "The ${service} service ran fewer tasks than desired for 5 minutes"
      first      = "the service's events (aws ecs describe-services: placement failures, tasks that stop) and the stopped tasks' reason"
      periods    = 5
      datapoints = 5
      expression = "desired - running"
      metrics = {
        desired = { namespace = "ECS/ContainerInsights", metric = "DesiredTaskCount", stat = "Minimum", period = 60, dimensions = { ClusterName = module.ecs_cluster.cluster_name, ServiceName = module.service[service].service_name } }
        running = { namespace = "ECS/ContainerInsights", metric = "RunningTaskCount", stat = "Maximum", period = 60, dimensions = { ClusterName = module.ecs_cluster.cluster_name, ServiceName = module.service[service].service_name } }
      }
    }) },
    { for service in local.counted_by_cpu : "${service}-tasks-below-desired" => merge(local.alarm_defaults, {
      runbook    = "ecs-tasks-below-desired"
      summary    = "The ${service} service ran no task for 5 minutes"
      first      = "the service's events (aws ecs describe-services: placement failures, tasks that stop) and the stopped tasks' reason"
      comparison = "LessThanThreshold"
      threshold  = 1
      periods    = 5
      datapoints = 5
      missing    = "breaching"
      metrics = {
        tasks = { namespace = "AWS/ECS", metric = "CPUUtilization", stat = "SampleCount", period = 60, dimensions = { ClusterName = module.ecs_cluster.cluster_name, ServiceName = module.service[service].service_name } }
      }
    }) },
    {
      "rds-cpu" = merge(local.alarm_defaults, {
        runbook    = "rds-cpu"
        summary    = "Postgres used more than 80 % CPU for 15 minutes"
        first      = "Performance Insights or pg_stat_statements for the heaviest queries, and the notifications table's size"
        threshold  = 80
        periods    = 3
        datapoints = 3
        metrics = {
          m = { namespace = "AWS/RDS", metric = "CPUUtilization", stat = "Average", period = 300, dimensions = { DBInstanceIdentifier = module.rds.identifier } }
        }
      })
      "rds-free-storage" = merge(local.alarm_defaults, {
        runbook    = "rds-free-storage"
        summary    = "Postgres has less than a tenth of its ${var.db_allocated_storage} GB free"
        first      = "which tables grew (notifications, deliveries), then raise db_allocated_storage"
        comparison = "LessThanThreshold"
        threshold  = local.db_free_storage_floor
        missing    = "breaching"
        metrics = {
          m = { namespace = "AWS/RDS", metric = "FreeStorageSpace", stat = "Minimum", period = 300, dimensions = { DBInstanceIdentifier = module.rds.identifier } }
        }
      })
      "rds-connections" = merge(local.alarm_defaults, {
        runbook    = "rds-connections"
        summary    = "Postgres held more than ${var.alarm_db_connections} connections for 10 minutes"
        first      = "how many tasks run (each holds up to database_max_connections = ${var.database_max_connections}) and pg_stat_activity for idle ones"
        threshold  = var.alarm_db_connections
        periods    = 2
        datapoints = 2
        metrics = {
          m = { namespace = "AWS/RDS", metric = "DatabaseConnections", stat = "Maximum", period = 300, dimensions = { DBInstanceIdentifier = module.rds.identifier } }
        }
      })
      "redis-memory" = merge(local.alarm_defaults, {
        runbook    = "redis-memory"
        summary    = "Redis used more than 80 % of its memory for 15 minutes"
        first      = "the snapshot's size (SnapshotRules, the rules per client) against the node type (redis_node_type)"
        threshold  = 80
        periods    = 3
        datapoints = 3
        metrics = {
          m = { namespace = "AWS/ElastiCache", metric = "DatabaseMemoryUsagePercentage", stat = "Maximum", period = 300, dimensions = { CacheClusterId = module.redis.cache_cluster_id } }
        }
      })
      "redis-evictions" = merge(local.alarm_defaults, {
        runbook = "redis-evictions"
        summary = "Redis evicted keys: the rule snapshot may be incomplete"
        first   = "Redis's memory (the redis-memory alarm), then a larger redis_node_type; the snapshot is rebuilt from Postgres"
        metrics = {
          m = { namespace = "AWS/ElastiCache", metric = "Evictions", stat = "Sum", period = 300, dimensions = { CacheClusterId = module.redis.cache_cluster_id } }
        }
      })
    },
    # The platform's own metrics exist only with cloudwatch_metrics. Lag above the
    # threshold and not going down, three periods of four (DIFF has no value for the
    # first): a consumer that is stuck or slower than what comes in; a backlog that
    # drains does not page.
    { for consumer in local.consumers : "${consumer}-lag" => merge(local.alarm_defaults, {
      runbook    = "consumer-lag"
      summary    = "The ${consumer}'s consumer lag stayed above ${var.alarm_consumer_lag} messages and did not fall for 15 of 20 minutes"
      first      = "the ${consumer}'s log group for errors, its task count against kafka_topic_partitions, and the next service down the pipeline"
      periods    = 4
      datapoints = 3
      expression = "IF(lag > ${var.alarm_consumer_lag} AND DIFF(lag) >= 0, 1, 0)"
      metrics = {
        lag = { namespace = local.platform.namespace, metric = "ConsumerLag", stat = "Maximum", period = 300, dimensions = merge(local.platform.dimensions, { Service = consumer }) }
      }
    }) if var.cloudwatch_metrics },
    { for name, alarm in {
      "deliveries-failing" = merge(local.alarm_defaults, {
        runbook   = "deliveries-failing"
        summary   = "More than ${var.alarm_deliveries_failed} deliveries failed for good in 5 minutes"
        first     = "GET /api/v1/notifications?status=FAILED for the endpoints concerned, and the sender's warnings (they name the endpoint and the answer)"
        threshold = var.alarm_deliveries_failed
        metrics = {
          m = { namespace = local.platform.namespace, metric = "DeliveriesFailed", stat = "Sum", period = 300, dimensions = merge(local.platform.dimensions, { Service = "sender" }) }
        }
      })
      "dead-letters" = merge(local.alarm_defaults, {
        runbook    = "dead-letters"
        summary    = "A consumer sent messages to a dead-letter topic"
        first      = "the consumer's warnings (they say why the message was refused) and the dead-letter topic itself"
        expression = "FILL(evaluator, 0) + FILL(aggregator, 0) + FILL(sender, 0) + FILL(ruleupdater, 0)"
        metrics = { for service in concat(local.consumers, ["rule-updater"]) : replace(service, "-", "") => {
          namespace = local.platform.namespace, metric = "MessagesDeadLettered", stat = "Sum", period = 300, dimensions = merge(local.platform.dimensions, { Service = service })
        } }
      })
      # The rule-updater writes the snapshot at least every SNAPSHOT_REBUILD_INTERVAL (5
      # minutes); no datum at all (no rule-updater) breaches too.
      "snapshot-stale" = merge(local.alarm_defaults, {
        runbook    = "snapshot-stale"
        summary    = "The rule snapshot was not written for 10 minutes: rule changes are not reaching the evaluators"
        first      = "the rule-updater's log group (the lease, Redis, Postgres) and whether its task runs"
        comparison = "LessThanThreshold"
        threshold  = 1
        missing    = "breaching"
        metrics = {
          m = { namespace = local.platform.namespace, metric = "SnapshotsWritten", stat = "Sum", period = 600, dimensions = merge(local.platform.dimensions, { Service = "rule-updater" }) }
        }
      })
    } : name => alarm if var.cloudwatch_metrics },
    { for job in keys(local.scheduled_jobs) : "${job}-failed-invocations" => merge(local.alarm_defaults, {
      runbook = "job-failures"
      summary = "EventBridge could not start the ${job} job"
      first   = "the rule's failed invocations in CloudTrail (RunTask errors: no capacity, a task definition whose image is missing)"
      metrics = {
        m = { namespace = "AWS/Events", metric = "FailedInvocations", stat = "Sum", period = 300, dimensions = { RuleName = aws_cloudwatch_event_rule.job[job].name } }
      }
    }) },
  )
}

# Not encrypted with a KMS key: CloudWatch cannot publish to a topic under the AWS
# managed key, and what it carries (alarm names and states) is no secret.
resource "aws_sns_topic" "alarms" {
  name = "${local.name}-alarms"
  tags = local.tags
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "EcsEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.ecs_events.arn]
    }
  }
  # The account keeps managing and subscribing to its topic.
  statement {
    sid = "Owner"
    actions = [
      "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission",
      "sns:DeleteTopic", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish",
    ]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

# The subscriber confirms it from the first email.
resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "platform" {
  for_each            = local.alarms
  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = "${each.value.summary}. First look at ${each.value.first}. Runbook: ${local.runbook}${each.value.runbook}"
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.datapoints
  treat_missing_data  = each.value.missing
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  dynamic "metric_query" {
    for_each = each.value.expression == null ? [] : [each.value.expression]
    content {
      id          = "alarm"
      expression  = metric_query.value
      label       = each.key
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id          = metric_query.key
      return_data = each.value.expression == null
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric
        stat        = metric_query.value.stat
        period      = metric_query.value.period
        dimensions  = metric_query.value.dimensions
      }
    }
  }

  tags = local.tags
}

# What no metric shows: ECS giving up on starting a service's tasks (they stop at
# once, or no host has room) and deployments that failed; runbook
# "ecs-tasks-below-desired".
resource "aws_cloudwatch_event_rule" "ecs_events" {
  name        = "${local.name}-ecs-events"
  description = "Tasks of the platform's services that cannot start or be placed, and failed deployments (runbook: ${local.runbook}ecs-tasks-below-desired)"
  # Both kinds name the service in `resources` (deployment events carry no clusterArn).
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Service Action", "ECS Deployment State Change"]
    resources     = [{ prefix = "${local.ecs_arn_prefix}:service/${local.cluster_name}/" }]
    detail = {
      eventName = ["SERVICE_TASK_START_IMPAIRED", "SERVICE_TASK_PLACEMENT_FAILURE", "SERVICE_DEPLOYMENT_FAILED"]
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "ecs_events" {
  rule      = aws_cloudwatch_event_rule.ecs_events.name
  target_id = "alarms"
  arn       = aws_sns_topic.alarms.arn
}
