# Amazon MSK: a Kafka cluster for production, its brokers spread over the private
# subnets (one zone each), reachable only from the ECS hosts and only over TLS with
# SASL: IAM (`auth = "iam"`: the tasks sign tokens with their task role, no password
# anywhere) or SCRAM (`auth = "scram"`: a user and password MSK reads from a Secrets
# Manager secret encrypted with a key of our own). Data is encrypted at rest (an
# AWS-managed key), replicated three times with two in sync before a write counts, and
# topics are made only by `alerting topics create`. Broker logs go to CloudWatch.

locals {
  iam   = var.auth == "iam"
  scram = var.auth == "scram"
  # Each authentication has a listener of its own: 9098 for IAM, 9096 for SCRAM.
  port = local.iam ? 9098 : 9096
}

resource "aws_security_group" "msk" {
  name_prefix = "${var.name}-msk-"
  description = "MSK brokers, from the ECS hosts only"
  vpc_id      = var.vpc_id
  # Only the listener of the authentication in use: nothing answers unauthenticated.
  ingress {
    description     = "Kafka over TLS with SASL/${local.iam ? "IAM" : "SCRAM"} from the ECS hosts (bridge-networked tasks use the address of their host)"
    from_port       = local.port
    to_port         = local.port
    protocol        = "tcp"
    security_groups = [var.client_security_group_id]
  }
  # No egress rule: the brokers answer the clients and need to reach nothing in this
  # VPC (replication and broker logs do not go through these interfaces).
  tags = merge(var.tags, { Name = "${var.name}-msk" })
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# What differs from MSK's defaults. Topics come from `alerting topics create` with
# their partitions and KAFKA_REPLICATION_FACTOR, never by a client's first use; any
# other topic gets three replicas too; and with acks=all (the services' producer) a
# write needs two replicas in sync, so one broker or zone can be lost without losing
# an acknowledged message or stopping writes.
resource "aws_msk_configuration" "this" {
  name              = var.name
  description       = "Broker settings of ${var.name}"
  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=3
    min.insync.replicas=2
  PROPERTIES
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.msk.id]
    storage_info {
      ebs_storage_info {
        volume_size = var.volume_gb
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  # No key named: at rest, MSK uses its AWS-managed key.
  encryption_info {
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam   = local.iam
      scram = local.scram
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.subnet_ids) >= 2 && var.broker_count % length(var.subnet_ids) == 0
      error_message = "MSK puts as many brokers in each client subnet: broker_count (${var.broker_count}) must be a multiple of the ${length(var.subnet_ids)} subnets, and there must be at least two."
    }
  }
}

# --- SASL/SCRAM only ----------------------------------------------------------------------

# MSK reads SCRAM users only from secrets named AmazonMSK_… and encrypted with a
# customer-managed key (it refuses the default aws/secretsmanager key). The key's
# default policy leaves access to IAM: the task execution role may decrypt with it.
resource "aws_kms_key" "scram" {
  count                   = local.scram ? 1 : 0
  description             = "SCRAM secret of ${var.name}'s MSK cluster"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  tags                    = var.tags
}

resource "aws_kms_alias" "scram" {
  count         = local.scram ? 1 : 0
  name          = "alias/${var.name}-msk-scram"
  target_key_id = aws_kms_key.scram[0].key_id
}

# Letters and digits only, like the other generated passwords.
resource "random_password" "scram" {
  count   = local.scram ? 1 : 0
  length  = 32
  special = false
}

# A secret scheduled for deletion blocks its name for the recovery window (as in
# modules/rds).
resource "aws_secretsmanager_secret" "scram" {
  count                   = local.scram ? 1 : 0
  name                    = "AmazonMSK_${var.name}-scram"
  description             = "SCRAM user of ${var.name}'s MSK cluster (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD)"
  kms_key_id              = aws_kms_key.scram[0].arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

# The JSON MSK expects; the tasks read its password key (ECS: `<arn>:password::`).
resource "aws_secretsmanager_secret_version" "scram" {
  count     = local.scram ? 1 : 0
  secret_id = aws_secretsmanager_secret.scram[0].id
  secret_string = jsonencode({
    username = var.scram_username
    password = random_password.scram[0].result
  })
}

resource "aws_msk_scram_secret_association" "this" {
  count           = local.scram ? 1 : 0
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [aws_secretsmanager_secret.scram[0].arn]
  depends_on      = [aws_secretsmanager_secret_version.scram]
}
