# Kafka, by kafka_mode: "self-hosted" runs one broker on the ECS cluster (modules/kafka:
# cheap, PLAINTEXT, no replication; not for production), "msk" makes Amazon MSK
# (modules/msk: TLS, SASL with IAM or SCRAM, three replicas), "external" uses a Kafka
# that exists elsewhere (kafka_brokers, kafka_security_protocol, kafka_sasl_*). Here:
# what each mode gives the services (main.tf puts it into their environment, secrets
# and roles), the checks that the variables set fit the mode, and the two modules.

locals {
  msk_iam   = var.kafka_mode == "msk" && var.msk_auth == "iam"
  msk_scram = var.kafka_mode == "msk" && var.msk_auth == "scram"
  external  = var.kafka_mode == "external"

  # KAFKA_* of the services. one(): the module of another mode has no instance.
  kafka_brokers = (
    var.kafka_mode == "msk" ? one(module.msk[*].bootstrap_brokers) :
    local.external ? var.kafka_brokers : one(module.kafka[*].bootstrap_servers)
  )
  kafka_security_protocol = (
    var.kafka_mode == "msk" ? one(module.msk[*].security_protocol) :
    local.external ? var.kafka_security_protocol : "PLAINTEXT"
  )
  kafka_sasl_mechanism = (
    var.kafka_mode == "msk" ? one(module.msk[*].sasl_mechanism) :
    local.external ? var.kafka_sasl_mechanism : ""
  )
  kafka_sasl_username = (
    local.msk_scram ? one(module.msk[*].scram_username) :
    local.external ? var.kafka_sasl_username : ""
  )
  # Three replicas wherever there are brokers enough; the single broker has one.
  kafka_replication_factor = coalesce(var.kafka_replication_factor, var.kafka_mode == "self-hosted" ? 1 : 3)

  # KAFKA_SASL_PASSWORD, when there is one (decided by variables alone, so the tasks'
  # secrets are known at plan time): the secret itself, for the execution role, and
  # what ECS reads, valueFrom (the password key of MSK's JSON secret).
  kafka_password = local.msk_scram || (local.external && var.kafka_sasl_password_secret_arn != "")
  kafka_password_secret_arn = (
    local.msk_scram ? one(module.msk[*].scram_secret_arn) :
    # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME: the first seven parts.
    local.kafka_password ? join(":", slice(split(":", var.kafka_sasl_password_secret_arn), 0, 7)) : null
  )
  kafka_password_value_from = local.msk_scram ? "${local.kafka_password_secret_arn}:password::" : var.kafka_sasl_password_secret_arn
  # Keys a password secret is encrypted with that the execution role must decrypt with.
  kafka_password_kms_key_arns = (
    local.msk_scram ? [one(module.msk[*].scram_kms_key_arn)] :
    local.kafka_password && var.kafka_sasl_password_kms_key_arn != "" ? [var.kafka_sasl_password_kms_key_arn] : []
  )

  # AWS_MSK_IAM: the cluster on which the task roles get the kafka-cluster actions.
  kafka_iam             = local.msk_iam || (local.external && var.kafka_sasl_mechanism == "AWS_MSK_IAM")
  kafka_iam_cluster_arn = local.msk_iam ? one(module.msk[*].cluster_arn) : var.kafka_msk_cluster_arn
}

# Settings that do not fit the mode stop the plan here, each saying what to change,
# rather than being ignored: preconditions, which see every variable, kept together.
resource "terraform_data" "kafka_settings" {
  lifecycle {
    precondition {
      condition     = var.kafka_brokers == "" || local.external
      error_message = "kafka_brokers is set, but kafka_mode is \"${var.kafka_mode}\", which does not use it (\"self-hosted\", the default, runs a broker of its own): set kafka_mode = \"external\" to use those brokers (with kafka_security_protocol and kafka_sasl_* if they need TLS or SASL), or leave kafka_brokers empty."
    }
    precondition {
      condition     = !local.external || var.kafka_brokers != ""
      error_message = "kafka_mode = \"external\" needs kafka_brokers: the bootstrap servers (host:port,…) of that Kafka."
    }
    precondition {
      condition     = local.external || (var.kafka_security_protocol == "PLAINTEXT" && var.kafka_sasl_mechanism == "" && var.kafka_sasl_username == "" && var.kafka_sasl_password_secret_arn == "" && var.kafka_sasl_password_kms_key_arn == "" && var.kafka_msk_cluster_arn == "")
      error_message = "kafka_security_protocol, kafka_sasl_* and kafka_msk_cluster_arn describe an external Kafka: they need kafka_mode = \"external\" (MSK made here takes msk_auth instead)."
    }
    precondition {
      condition     = (var.kafka_security_protocol == "SASL_SSL") == (var.kafka_sasl_mechanism != "")
      error_message = "kafka_security_protocol = \"SASL_SSL\" and kafka_sasl_mechanism go together: SASL_SSL needs a mechanism, and a mechanism needs SASL_SSL."
    }
    precondition {
      condition     = !startswith(var.kafka_sasl_mechanism, "SCRAM-") || (var.kafka_sasl_username != "" && var.kafka_sasl_password_secret_arn != "")
      error_message = "kafka_sasl_mechanism = \"${var.kafka_sasl_mechanism}\" needs kafka_sasl_username and kafka_sasl_password_secret_arn."
    }
    precondition {
      condition     = var.kafka_sasl_mechanism != "AWS_MSK_IAM" || var.kafka_msk_cluster_arn != ""
      error_message = "kafka_sasl_mechanism = \"AWS_MSK_IAM\" needs kafka_msk_cluster_arn, the cluster the task roles may then connect to."
    }
    precondition {
      condition     = var.kafka_mode != "self-hosted" || local.kafka_replication_factor == 1
      error_message = "kafka_mode = \"self-hosted\" runs one broker: kafka_replication_factor must be 1 (or null)."
    }
    precondition {
      condition     = var.kafka_mode != "msk" || (local.kafka_replication_factor >= 2 && local.kafka_replication_factor <= var.msk_broker_count)
      error_message = "With MSK, kafka_replication_factor must be at least 2 (the brokers take a write once two replicas have it, min.insync.replicas) and at most msk_broker_count (${var.msk_broker_count})."
    }
  }
}

# kafka_mode = "self-hosted" only.
module "kafka" {
  source                   = "./modules/kafka"
  count                    = var.kafka_mode == "self-hosted" ? 1 : 0
  name                     = local.name
  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnet_ids
  client_security_group_id = module.ecs_cluster.host_security_group_id
  cluster_arn              = module.ecs_cluster.cluster_arn
  capacity_provider        = module.ecs_cluster.capacity_provider
  region                   = var.region
  image_tag                = var.kafka_image_tag
  cpu                      = var.kafka_cpu
  memory                   = var.kafka_memory
  heap_mb                  = var.kafka_heap_mb
  log_retention_hours      = var.kafka_log_retention_hours
  num_partitions           = var.kafka_topic_partitions
  log_group_name           = "${local.log_group_prefix}/kafka"
  log_retention_days       = var.log_retention_days
  tags                     = local.tags
}

# kafka_mode = "msk" only. The VPC then has three private subnets (main.tf), one per
# availability zone, and the brokers are spread over them.
module "msk" {
  source                      = "./modules/msk"
  count                       = var.kafka_mode == "msk" ? 1 : 0
  name                        = local.name
  vpc_id                      = module.vpc.vpc_id
  subnet_ids                  = module.vpc.private_subnet_ids
  client_security_group_id    = module.ecs_cluster.host_security_group_id
  auth                        = var.msk_auth
  kafka_version               = var.msk_kafka_version
  instance_type               = var.msk_instance_type
  broker_count                = var.msk_broker_count
  volume_gb                   = var.msk_volume_gb
  log_group_name              = "${local.log_group_prefix}/msk"
  log_retention_days          = var.log_retention_days
  secret_recovery_window_days = var.environment == "production" ? 30 : 0
  kms_deletion_window_days    = var.environment == "production" ? 30 : 7
  tags                        = local.tags
}
