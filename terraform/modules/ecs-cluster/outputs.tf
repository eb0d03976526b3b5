output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  value = aws_ecs_cluster.this.arn
}

output "capacity_provider" {
  value = aws_ecs_capacity_provider.hosts.name
  # Services and tasks may use it only once the cluster has it.
  depends_on = [aws_ecs_cluster_capacity_providers.this]
}

output "host_security_group_id" {
  value = aws_security_group.host.id
}
