# Kafka on ECS (the root's kafka_mode = "self-hosted", the default): one broker of the
# official apache/kafka image in KRaft mode (broker and controller in one process),
# reachable as kafka.<name>.local:9092 through a Cloud Map private DNS namespace. The
# cheap option, for a test or demo environment and not for production: one broker, so
# no replication (replication factor 1) and no failover; PLAINTEXT, so neither TLS nor
# authentication (the security group is all that keeps others out). Its data lives in
# a Docker volume on whichever host runs it, survives a restart there, and is gone when
# the task moves to another host (topics are then recreated on first use with
# KAFKA_NUM_PARTITIONS partitions, consumer offsets start over). Production uses MSK:
# kafka_mode = "msk" (modules/msk) or "external", and this module is not instantiated.

locals {
  address = "kafka.${aws_service_discovery_private_dns_namespace.this.name}"
}

# KRaft formats its log directory with a cluster id; a fixed one lets a restarted
# broker reuse the data it finds in its volume.
resource "random_id" "cluster" {
  byte_length = 16
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = "${var.name}.local"
  description = "Private names of ${var.name}"
  vpc         = var.vpc_id
  tags        = var.tags
}

resource "aws_service_discovery_service" "kafka" {
  name = "kafka"
  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }
  # ECS reports the task's health to Cloud Map, so a broker that stopped is not resolved.
  health_check_custom_config {
    failure_threshold = 1
  }
  tags = var.tags
}

resource "aws_security_group" "kafka" {
  name_prefix = "${var.name}-kafka-"
  description = "Kafka, from the ECS hosts only"
  vpc_id      = var.vpc_id
  ingress {
    description     = "Kafka clients on the ECS hosts (bridge-networked tasks use the host's address)"
    from_port       = 9092
    to_port         = 9092
    protocol        = "tcp"
    security_groups = [var.client_security_group_id]
  }
  # No egress rule: a single broker (its controller on localhost) opens no connections.
  tags = merge(var.tags, { Name = "${var.name}-kafka" })
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "kafka" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# awsvpc rather than the services' bridge mode: the task needs an address of its own
# for Cloud Map's A record. A t3.micro has room for one such task (two ENIs, one of
# them the host's), and there is only one broker.
resource "aws_ecs_task_definition" "kafka" {
  family                   = "${var.name}-kafka"
  network_mode             = "awsvpc"
  requires_compatibilities = ["EC2"]

  volume {
    name = "kafka-data"
    docker_volume_configuration {
      scope         = "shared"
      autoprovision = true
      driver        = "local"
    }
  }

  container_definitions = jsonencode([{
    name         = "kafka"
    image        = "apache/kafka:${var.image_tag}"
    essential    = true
    cpu          = var.cpu
    memory       = var.memory
    portMappings = [{ containerPort = 9092, protocol = "tcp" }]
    # Any KAFKA_* variable replaces the image's default configuration, so all of it is here.
    environment = [for key, value in {
      CLUSTER_ID                                     = random_id.cluster.b64_url
      KAFKA_NODE_ID                                  = "1"
      KAFKA_PROCESS_ROLES                            = "broker,controller"
      KAFKA_LISTENERS                                = "PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093"
      KAFKA_ADVERTISED_LISTENERS                     = "PLAINTEXT://${local.address}:9092"
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP           = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
      KAFKA_CONTROLLER_LISTENER_NAMES                = "CONTROLLER"
      KAFKA_INTER_BROKER_LISTENER_NAME               = "PLAINTEXT"
      KAFKA_CONTROLLER_QUORUM_VOTERS                 = "1@127.0.0.1:9093"
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR         = "1"
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR = "1"
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR            = "1"
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS         = "0"
      KAFKA_NUM_PARTITIONS                           = tostring(var.num_partitions)
      KAFKA_LOG_DIRS                                 = "/var/lib/kafka/data"
      KAFKA_LOG_RETENTION_HOURS                      = tostring(var.log_retention_hours)
      KAFKA_HEAP_OPTS                                = "-Xmx${var.heap_mb}m -Xms${var.heap_mb}m"
    } : { name = key, value = value }]
    mountPoints = [{ sourceVolume = "kafka-data", containerPath = "/var/lib/kafka/data" }]
    ulimits     = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    # A TCP connect, not a Kafka client: a second JVM would not fit in the memory.
    healthCheck = {
      command     = ["CMD-SHELL", "bash -c '</dev/tcp/127.0.0.1/9092' || exit 1"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    stopTimeout = 60
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.kafka.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "kafka"
      }
    }
  }])

  tags = var.tags
}

resource "aws_ecs_service" "kafka" {
  name            = "${var.name}-kafka"
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.kafka.arn
  desired_count   = 1
  # Two brokers with one node id and one volume must never overlap: stop, then start.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  capacity_provider_strategy {
    capacity_provider = var.capacity_provider
    weight            = 1
  }

  network_configuration {
    subnets         = var.subnet_ids
    security_groups = [aws_security_group.kafka.id]
  }

  service_registries {
    registry_arn = aws_service_discovery_service.kafka.arn
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"
  tags                    = var.tags
}
