# Redis 7 for the rule snapshot: one ElastiCache node in the private subnets, reachable
# only from the ECS hosts. The snapshot is rebuilt from Postgres on start-up and on a
# schedule, so losing the node loses nothing that cannot be recomputed; hence a single
# node, no failover and no backups by default.

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
  # The application connects with redis:// (plain TCP) inside the VPC; the security
  # group is what keeps others out.
  transit_encryption_enabled = false
  snapshot_retention_limit   = var.snapshot_retention_days
  maintenance_window         = "sun:04:30-sun:05:30"
  apply_immediately          = true
  tags                       = var.tags
}
