# The IAM roles every task shares: the execution role ECS starts them with (images,
# logs, their secrets) and the policy of their task roles (what the application itself
# may do in AWS: metrics, and Kafka where MSK's IAM access control is used).

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# ECS itself, starting a task: pull from ECR, write to CloudWatch Logs, read the
# secrets the tasks get (and decrypt a Kafka password kept under a key of its own, as
# MSK's SCRAM requires).
resource "aws_iam_role" "execution" {
  name               = "${local.name}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    actions = ["secretsmanager:GetSecretValue"]
    resources = concat(
      [module.rds.database_url_secret_arn, module.rds.master_database_url_secret_arn, aws_secretsmanager_secret.admin_token.arn, module.redis.auth_token_secret_arn],
      local.kafka_password ? [local.kafka_password_secret_arn] : [],
    )
  }
  # Only on behalf of Secrets Manager: the role cannot use the key for anything else.
  dynamic "statement" {
    for_each = length(local.kafka_password_kms_key_arns) > 0 ? [1] : []
    content {
      actions   = ["kms:Decrypt"]
      resources = local.kafka_password_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
      }
    }
  }
}

# Named after the first secret it covered; kept, so that the policy is not replaced.
resource "aws_iam_role_policy" "execution_secrets" {
  name   = "${local.name}-database-url"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# The application's own AWS calls: metrics into its namespace and, with MSK's IAM
# access control (AWS_MSK_IAM), Kafka on that one cluster; nothing else.
# PutMetricData has no resource to scope, hence the namespace condition.
data "aws_iam_policy_document" "task" {
  statement {
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }
  # Connecting, and writing through the idempotent producer (enable.idempotence).
  dynamic "statement" {
    for_each = local.kafka_iam ? [local.kafka_iam_cluster_arn] : []
    content {
      actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"]
      resources = [statement.value]
    }
  }
  # Topics: `topics create` makes them, the services read their metadata, write and
  # read. arn:…:cluster/NAME/UUID becomes arn:…:topic/NAME/UUID/TOPIC.
  dynamic "statement" {
    for_each = local.kafka_iam ? [local.kafka_iam_cluster_arn] : []
    content {
      actions = [
        "kafka-cluster:CreateTopic",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:DescribeTopicDynamicConfiguration",
        "kafka-cluster:WriteData",
        "kafka-cluster:ReadData",
      ]
      resources = ["${replace(statement.value, ":cluster/", ":topic/")}/*"]
    }
  }
  # Consumer groups: joining them and committing offsets (AlterGroup), reading the
  # committed offsets back (DescribeGroup).
  dynamic "statement" {
    for_each = local.kafka_iam ? [local.kafka_iam_cluster_arn] : []
    content {
      actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
      resources = ["${replace(statement.value, ":cluster/", ":group/")}/*"]
    }
  }
}

# The task role of the one-off and scheduled tasks (each service has its own, from
# the same policy, in modules/ecs-service).
resource "aws_iam_role" "job_task" {
  name               = "${local.name}-job-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "job_task" {
  name   = "${local.name}-job-task"
  role   = aws_iam_role.job_task.id
  policy = data.aws_iam_policy_document.task.json
}
