# The alerting platform on AWS: wiring of the modules. A VPC; one ECR repository per
# service; an ECS cluster on EC2 hosts; Postgres (RDS) and Redis (ElastiCache) in the
# private subnets, reachable only from the hosts and only over TLS; Kafka as
# `kafka_mode` says (kafka.tf); an ALB in front of the two HTTP services; the six
# services and what every task is given. The roles the tasks share are in iam.tf, the
# one-off `migrate` and `topics` tasks and the scheduled jobs in tasks.tf.

data "aws_caller_identity" "current" {}

locals {
  name       = "alerting-platform-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  tags = merge(var.tags, {
    Project     = "alerting-platform"
    Environment = var.environment
  })
  services = ["rule-service", "alert-producer", "rule-updater", "evaluator", "aggregator", "sender"]

  log_group_prefix = "/ecs/alerting-platform/${var.environment}"

  # Where Docker takes the HTTP services' dynamic host ports from (bridge networking):
  # the kernel's 32768–60999 or the ECS agent's 49153–65535, whichever applies.
  host_ports = [32768, 65535]

  # The image of the task definitions Terraform registers: the deployed commit
  # (image_tag.tf); the deploy workflow registers a revision per commit after that. One
  # image runs everything, so the one-off and scheduled tasks take the rule-service's
  # repository.
  images    = { for service, url in module.ecr.repository_urls : service => "${url}:${local.image_tag}" }
  job_image = local.images["rule-service"]

  # What each service runs and where its /health is: the HTTP services on their own
  # port, the consumers on METRICS_ADDR's.
  service_settings = {
    "rule-service"   = { command = ["serve", "rule-service"], port = 8080, health_port = 8080, database = true, admin = true }
    "alert-producer" = { command = ["serve", "alert-producer"], port = 8081, health_port = 8081, database = true, admin = true }
    "evaluator"      = { command = ["run", "evaluator"], port = null, health_port = 9090, database = false, admin = false }
    "aggregator"     = { command = ["run", "aggregator"], port = null, health_port = 9090, database = true, admin = false }
    "sender"         = { command = ["run", "sender"], port = null, health_port = 9090, database = true, admin = false }
    "rule-updater"   = { command = ["run", "rule-updater"], port = null, health_port = 9090, database = true, admin = false }
  }

  # One-off tasks (run by hand or by the deploy workflow) and scheduled jobs: task
  # definitions only, no services.
  one_off_tasks = {
    "migrate" = ["migrate"]
    "topics"  = ["topics", "create"]
  }
  scheduled_jobs = {
    "snapshot-rebuild" = { command = ["job", "snapshot-rebuild"], schedule = var.snapshot_rebuild_schedule }
    "redrive"          = { command = ["job", "redrive"], schedule = var.redrive_schedule }
  }
  tasks = merge(local.one_off_tasks, { for job, settings in local.scheduled_jobs : job => settings.command })

  # Per service or task: the defaults, overridden by `service_sizing`.
  default_sizing = {
    cpu                = var.task_cpu
    memory             = var.task_memory
    memory_reservation = var.task_memory_reservation
    min_tasks          = var.service_min_tasks
    max_tasks          = var.service_max_tasks
  }
  sizing = {
    for name in concat(local.services, keys(local.tasks)) : name => {
      for key, value in local.default_sizing : key => coalesce(try(var.service_sizing[name][key], null), value)
    }
  }

  # Every task's. Kafka's settings come from kafka.tf; a SASL mechanism and user only
  # where there are any. KAFKA_SSL_CA_LOCATION and REDIS_CA_FILE stay unset: the
  # system's roots vouch for MSK and ElastiCache. AWS_REGION also signs MSK IAM tokens.
  # HTTP_IDLE_TIMEOUT: kept-alive connections outlive the load balancer's idle timeout,
  # so it never sends a request on one the service is closing (a 502).
  common_environment = merge(
    {
      KAFKA_BROKERS            = local.kafka_brokers
      KAFKA_SECURITY_PROTOCOL  = local.kafka_security_protocol
      KAFKA_REPLICATION_FACTOR = tostring(local.kafka_replication_factor)
      KAFKA_TOPIC_PARTITIONS   = tostring(var.kafka_topic_partitions)
      REDIS_URL                = module.redis.url
      DATABASE_MAX_CONNECTIONS = tostring(var.database_max_connections)
      LOG_FORMAT               = "json"
      RUST_LOG                 = var.rust_log
      HTTP_IDLE_TIMEOUT        = "${var.alb_idle_timeout + 15}s"
      RULE_SERVICE_ADDR        = "0.0.0.0:8080"
      ALERT_PRODUCER_ADDR      = "0.0.0.0:8081"
      METRICS_ADDR             = "0.0.0.0:9090"
      CLOUDWATCH_METRICS       = tostring(var.cloudwatch_metrics)
      CLOUDWATCH_NAMESPACE     = var.metrics_namespace
      ENVIRONMENT              = var.environment
      INGEST_RATE_LIMIT        = tostring(var.ingest_rate_limit)
      AWS_REGION               = var.region
    },
    local.kafka_sasl_mechanism == "" ? {} : { KAFKA_SASL_MECHANISM = local.kafka_sasl_mechanism },
    local.kafka_sasl_username == "" ? {} : { KAFKA_SASL_USERNAME = local.kafka_sasl_username },
  )

  # Environment variables read from Secrets Manager: name => valueFrom. The services
  # connect to Postgres as the application's own role; only the migrate task has the
  # master user's URL, and the services' one, whose role it makes and grants.
  database_secret = { DATABASE_URL = module.rds.database_url_secret_arn }
  migrate_secrets = {
    DATABASE_URL     = module.rds.master_database_url_secret_arn
    DATABASE_APP_URL = module.rds.database_url_secret_arn
  }
  # The HTTP services refuse to start without it; the consumers do not take requests.
  admin_secret = { ADMIN_TOKEN = aws_secretsmanager_secret.admin_token.arn }
  # Every task reaches Redis and Kafka: their passwords, where there are any.
  connection_secrets = merge(
    { REDIS_PASSWORD = module.redis.auth_token_secret_arn },
    local.kafka_password ? { KAFKA_SASL_PASSWORD = local.kafka_password_value_from } : {},
  )
}

# The API's admin token (`Authorization: Bearer …`), made here and kept in Secrets
# Manager; read it with `aws secretsmanager get-secret-value --secret-id
# $(terraform output -raw admin_token_secret_arn) --query SecretString --output text`.
resource "random_password" "admin_token" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "admin_token" {
  name                    = "${local.name}/admin-token"
  description             = "ADMIN_TOKEN of the rule-service and alert-producer"
  recovery_window_in_days = var.environment == "production" ? 30 : 0
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "admin_token" {
  secret_id     = aws_secretsmanager_secret.admin_token.id
  secret_string = "alerting_admin_${random_password.admin_token.result}"
}

module "vpc" {
  source     = "./modules/vpc"
  name       = local.name
  cidr_block = var.vpc_cidr
  # MSK: one broker per zone in three zones, so that losing one leaves two replicas.
  private_subnet_count = var.kafka_mode == "msk" ? 3 : 2
  create_nat_gateway   = var.create_nat_gateway
  tags                 = local.tags
}

module "ecr" {
  source       = "./modules/ecr"
  services     = local.services
  keep_images  = var.ecr_keep_images
  force_delete = var.environment != "production"
  tags         = local.tags
}

module "ecs_cluster" {
  source = "./modules/ecs-cluster"
  name   = local.name
  vpc_id = module.vpc.vpc_id
  # Without a NAT gateway, hosts need public addresses to reach ECS and ECR.
  subnet_ids         = var.create_nat_gateway ? module.vpc.private_subnet_ids : module.vpc.public_subnet_ids
  instance_type      = var.instance_type
  min_instances      = var.min_instances
  max_instances      = var.max_instances
  container_insights = var.container_insights
  tags               = local.tags
}

module "rds" {
  source                      = "./modules/rds"
  name                        = local.name
  vpc_id                      = module.vpc.vpc_id
  subnet_ids                  = module.vpc.private_subnet_ids
  client_security_group_id    = module.ecs_cluster.host_security_group_id
  instance_class              = var.db_instance_class
  allocated_storage           = var.db_allocated_storage
  backup_retention_days       = var.db_backup_retention_days
  multi_az                    = var.db_multi_az
  deletion_protection         = var.environment == "production"
  skip_final_snapshot         = var.environment != "production"
  secret_recovery_window_days = var.environment == "production" ? 30 : 0
  log_retention_days          = var.log_retention_days
  tags                        = local.tags
}

module "redis" {
  source                   = "./modules/redis"
  name                     = local.name
  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnet_ids
  client_security_group_id = module.ecs_cluster.host_security_group_id
  node_type                = var.redis_node_type
  snapshot_retention_days  = var.redis_snapshot_retention_days
  # As the database secret: outside production deleted at once, so the name is free.
  secret_recovery_window_days = var.environment == "production" ? 30 : 0
  tags                        = local.tags
}

module "alb" {
  source                   = "./modules/alb"
  name                     = local.name
  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.public_subnet_ids
  target_security_group_id = module.ecs_cluster.host_security_group_id
  host_port_range          = local.host_ports
  certificate_arn          = var.certificate_arn
  idle_timeout             = var.alb_idle_timeout
  access_logs_bucket       = local.audit_logs ? aws_s3_bucket.logs[0].id : ""
  deletion_protection      = var.environment == "production"
  tags                     = local.tags
  # The bucket must admit the load balancer's log delivery before it is named.
  depends_on = [aws_s3_bucket_policy.logs]
}

# Production serves HTTPS only (API keys and the admin token travel in every request);
# plain HTTP is for environments that hold nothing of value.
resource "terraform_data" "production_settings" {
  lifecycle {
    precondition {
      condition     = var.environment != "production" || var.certificate_arn != ""
      error_message = "environment = \"production\" needs certificate_arn: an ACM certificate for the API's domain (HTTP then only redirects to HTTPS). API keys and the admin token travel in every request, so production does not serve plain HTTP; use another environment name for a test without a domain."
    }
  }
}

# The hosts' only inbound traffic: the load balancer, to the dynamic host ports.
resource "aws_security_group_rule" "hosts_from_alb" {
  type                     = "ingress"
  description              = "Load balancer to the dynamic host ports of the HTTP services"
  security_group_id        = module.ecs_cluster.host_security_group_id
  from_port                = local.host_ports[0]
  to_port                  = local.host_ports[1]
  protocol                 = "tcp"
  source_security_group_id = module.alb.security_group_id
}

# --- the services -----------------------------------------------------------------------

module "service" {
  source   = "./modules/ecs-service"
  for_each = local.service_settings

  name              = each.key
  prefix            = local.name
  cluster_name      = module.ecs_cluster.cluster_name
  cluster_arn       = module.ecs_cluster.cluster_arn
  capacity_provider = module.ecs_cluster.capacity_provider
  region            = var.region
  image             = local.images[each.key]
  command           = each.value.command
  environment       = merge(local.common_environment, { HEALTH_URL = "http://127.0.0.1:${each.value.health_port}/health" })
  secrets = merge(
    local.connection_secrets,
    each.value.database ? local.database_secret : {},
    each.value.admin ? local.admin_secret : {},
  )

  cpu                = local.sizing[each.key].cpu
  memory             = local.sizing[each.key].memory
  memory_reservation = local.sizing[each.key].memory_reservation

  # The rule-updater runs as exactly one task: a second would only wait as a standby
  # for the writer lease (DESIGN invariant 5), and during a deploy the old task stops
  # before the new one starts, so two never overlap.
  autoscaling                        = each.key != "rule-updater"
  desired_count                      = each.key == "rule-updater" ? 1 : local.sizing[each.key].min_tasks
  min_count                          = each.key == "rule-updater" ? 1 : local.sizing[each.key].min_tasks
  max_count                          = each.key == "rule-updater" ? 1 : local.sizing[each.key].max_tasks
  deployment_minimum_healthy_percent = each.key == "rule-updater" ? 0 : 100
  deployment_maximum_percent         = each.key == "rule-updater" ? 100 : 200

  target_group_arn = lookup(module.alb.target_group_arns, each.key, null)
  container_port   = each.value.port

  log_group_name        = "${local.log_group_prefix}/${each.key}"
  log_retention_days    = var.log_retention_days
  execution_role_arn    = aws_iam_role.execution.arn
  task_role_policy_json = data.aws_iam_policy_document.task.json
  tags                  = local.tags
}
