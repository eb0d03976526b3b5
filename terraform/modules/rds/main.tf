# Postgres 15 for rules, clients, endpoints, notifications and deliveries: one
# instance in the private subnets, reachable only from the ECS hosts, over TLS only
# (rds.force_ssl) with the server's certificate checked (sslmode=verify-full), its
# server log (errors, slow statements) and upgrade log in CloudWatch. Two users: the
# master user, which owns the schema and which only the `migrate` task connects as,
# and the application's own role (`app_username`), which `alerting migrate` makes and
# grants reading and writing the tables, nothing more (no DDL, no other database). The
# application reads one DATABASE_URL, so each secret holds a whole URL, password
# included; the passwords are therefore also in Terraform's state, which must be
# remote and encrypted.

# Letters and digits only: the passwords go into URLs unescaped.
resource "random_password" "master" {
  length  = 32
  special = false
}

resource "random_password" "app" {
  length  = 32
  special = false
}

locals {
  # verify-full: TLS, and the certificate must be signed by Amazon RDS's CA and name
  # the host connected to, so nothing in the network path can stand in for the
  # database. The system's roots do not include RDS's CA; the image carries its bundle
  # (`ca_bundle_path`, also PGSSLROOTCERT there), named here too so that the URL alone
  # says how the connection is checked.
  url_suffix = "@${aws_db_instance.this.address}:${aws_db_instance.this.port}/alerting?sslmode=verify-full&sslrootcert=${var.ca_bundle_path}"
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "db" {
  name_prefix = "${var.name}-db-"
  description = "Postgres, from the ECS hosts only"
  vpc_id      = var.vpc_id
  ingress {
    description     = "Postgres from the ECS hosts (bridge-networked tasks use the host's address)"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [var.client_security_group_id]
  }
  # No egress rule: the database answers connections and opens none.
  tags = merge(var.tags, { Name = "${var.name}-db" })
  lifecycle {
    create_before_destroy = true
  }
}

# The server refuses connections without TLS. An instance that ran on the default
# group takes this one in its maintenance window and applies it only after a reboot
# (RDS shows pending-reboot until then); until then TLS is what the URL asks for.
resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = "postgres${split(".", var.engine_version)[0]}"
  description = "Postgres of ${var.name}: TLS only"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  # Statements slower than a second are logged, with how long they took.
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  tags = var.tags
  # A new major version needs a new family: the new group exists before the old goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  # Minor versions follow AWS's recommended one in the maintenance window.
  auto_minor_version_upgrade = true
  instance_class             = var.instance_class
  allocated_storage          = var.allocated_storage
  storage_type               = "gp3"
  storage_encrypted          = true
  multi_az                   = var.multi_az

  db_name  = "alerting"
  username = "alerting"
  password = random_password.master.result
  port     = 5432

  db_subnet_group_name   = aws_db_subnet_group.this.name
  parameter_group_name   = aws_db_parameter_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false

  backup_retention_period = var.backup_retention_days
  backup_window           = "02:00-03:00"
  maintenance_window      = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot   = true

  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : "${var.name}-final"

  tags = var.tags
  # Its log groups exist, with their retention, before RDS writes to them.
  depends_on = [aws_cloudwatch_log_group.exports]
}

# The exported logs' groups, made first with their retention (RDS would make them
# without one).
resource "aws_cloudwatch_log_group" "exports" {
  for_each          = toset(["postgresql", "upgrade"])
  name              = "/aws/rds/instance/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# A secret scheduled for deletion blocks its name for the recovery window, so outside
# production it is deleted at once and `terraform destroy && terraform apply` works.
resource "aws_secretsmanager_secret" "database_url" {
  name                    = "${var.name}/database-url"
  description             = "DATABASE_URL of the services: the application's own role (postgres://${var.app_username}:…@host:5432/alerting?sslmode=verify-full&…)"
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = "postgres://${var.app_username}:${random_password.app.result}${local.url_suffix}"
}

# The master user's, for the migrate task alone.
resource "aws_secretsmanager_secret" "master_database_url" {
  name                    = "${var.name}/master-database-url"
  description             = "DATABASE_URL of the migrate task: the master user, owner of the schema"
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "master_database_url" {
  secret_id     = aws_secretsmanager_secret.master_database_url.id
  secret_string = "postgres://alerting:${random_password.master.result}${local.url_suffix}"
}
