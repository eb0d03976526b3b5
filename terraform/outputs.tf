output "vpc_id" {
  value = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "The deploy workflow's PRIVATE_SUBNETS"
  value       = module.vpc.private_subnet_ids
}

output "ecr_repository_urls" {
  value = module.ecr.repository_urls
}

output "ecs_cluster_name" {
  description = "The deploy workflow's cluster (alerting-platform-<environment>)"
  value       = module.ecs_cluster.cluster_name
}
