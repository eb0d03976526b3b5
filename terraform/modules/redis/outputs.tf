output "url" {
  description = "REDIS_URL of the services: TLS (rediss://), the password apart in auth_token_secret_arn"
  value       = "rediss://${aws_elasticache_replication_group.this.primary_endpoint_address}:6379"
}

output "auth_token_secret_arn" {
  description = "Secrets Manager secret holding the AUTH token (REDIS_PASSWORD), the whole value"
  value       = aws_secretsmanager_secret.auth_token.arn
  # Tasks that read it must not start before it has a value.
  depends_on = [aws_secretsmanager_secret_version.auth_token]
}

output "security_group_id" {
  value = aws_security_group.redis.id
}

output "cache_cluster_id" {
  description = "The node's CacheClusterId, the dimension of its CloudWatch metrics (the first member of a group that is not in cluster mode is <group>-001)"
  value       = "${aws_elasticache_replication_group.this.id}-001"
}
