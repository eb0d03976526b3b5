# Redis 7 for the rule snapshot: one ElastiCache node in the private subnets, reachable
# only from the ECS hosts, over TLS (`rediss://`, checked against the system's roots,
# which vouch for ElastiCache) and with an AUTH token that the tasks read from Secrets
# Manager (REDIS_PASSWORD). The snapshot is rebuilt from Postgres on start-up and on a
# schedule, so losing the node loses nothing that cannot be recomputed; hence a single
# node, no failover and no backups by default. The token is a `random_password`, so it
# is also in Terraform's state (see the README on keeping state encrypted).

# ElastiCache takes 16 to 128 printable characters but not /, ", @ or %: letters and
# digits only.
resource "random_password" "auth_token" {
  length  = 64
  special = false
}

# A secret scheduled for deletion blocks its name for the recovery window, so outside
# production it is deleted at once (as in modules/rds).
resource "aws_secretsmanager_secret" "auth_token" {
  name                    = "${var.name}/redis-auth-token"
  description             = "REDIS_PASSWORD of the alerting platform (the ElastiCache AUTH token)"
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  secret_id     = aws_secretsmanager_secret.auth_token.id
  secret_string = random_password.auth_token.result
}

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "redis" {
  name_prefix = "${var.name}-redis-"
  description = "Redis, from the ECS hosts only"
  vpc_id      = var.vpc_id
  ingress {
    description     = "Redis from the ECS hosts (bridge-networked tasks use the host's address)"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [var.client_security_group_id]
  }
  # No egress rule: Redis answers connections and opens none.
  tags = merge(var.tags, { Name = "${var.name}-redis" })
  lifecycle {
    create_before_destroy = true
  }
}

# A replication group rather than a bare cluster: growing to a replica with automatic
# failover later is a change of `num_cache_clusters`, not a new resource.
resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = var.name
  description                = "Rule snapshot of ${var.name}"
  engine                     = "redis"
  engine_version             = var.engine_version
  parameter_group_name       = "default.redis7"
  node_type                  = var.node_type
  num_cache_clusters         = 1
  port                       = 6379
  automatic_failover_enabled = false
  multi_az_enabled           = false
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  # TLS and AUTH: the security group keeps others out, TLS keeps the token and the
  # snapshot off the wire, and the token keeps out whatever else runs on the hosts.
  # A group made without them cannot take both in one change (AWS moves an existing
  # group to TLS in steps): replace it instead, `terraform apply -replace=` this
  # resource; the snapshot is rebuilt and the services wait for Redis meanwhile.
  transit_encryption_enabled = true
  auth_token                 = random_password.auth_token.result
  # A new token is accepted beside the old one, so running tasks keep working until
  # they restart with it.
  auth_token_update_strategy = "ROTATE"
  snapshot_retention_limit   = var.snapshot_retention_days
  maintenance_window         = "sun:04:30-sun:05:30"
  apply_immediately          = true
  tags                       = var.tags
}
