output "vpc_id" {
  value = module.vpc.vpc_id
}

output "private_subnet_ids" {
  description = "Where Postgres, Redis and Kafka (the broker or MSK) live"
  value       = module.vpc.private_subnet_ids
}

output "ecr_repository_urls" {
  value = module.ecr.repository_urls
}

output "ecs_cluster_name" {
  description = "The deploy workflow's cluster (alerting-platform-<environment>)"
  value       = module.ecs_cluster.cluster_name
}

output "capacity_provider" {
  description = "For `aws ecs run-task --capacity-provider-strategy capacityProvider=…`"
  value       = module.ecs_cluster.capacity_provider
}

output "host_security_group_id" {
  description = "Security group of the ECS hosts, where all tasks but Kafka run; an external Kafka (kafka_mode = \"external\") must admit it"
  value       = module.ecs_cluster.host_security_group_id
}

output "alb_dns_name" {
  value = module.alb.dns_name
}

output "api_url" {
  description = "Base URL of the API (with a certificate, point its domain at alb_dns_name and use that instead)"
  value       = "${module.alb.https ? "https" : "http"}://${module.alb.dns_name}"
}

output "service_names" {
  description = "ECS services by service"
  value       = { for service, module_service in module.service : service => module_service.service_name }
}

output "task_definition_families" {
  description = "By service, one-off task (migrate, topics) and scheduled job"
  value = merge(
    { for service, module_service in module.service : service => module_service.task_definition_family },
    { for task, definition in aws_ecs_task_definition.task : task => definition.family },
  )
}

output "log_group_names" {
  description = "CloudWatch log groups by service, task, and the Kafka broker or MSK's broker logs"
  value = merge(
    { for service, module_service in module.service : service => module_service.log_group_name },
    { for task, group in aws_cloudwatch_log_group.task : task => group.name },
    { for broker in module.kafka : "kafka" => broker.log_group_name },
    { for cluster in module.msk : "msk" => cluster.log_group_name },
  )
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding the services' DATABASE_URL (the application's own role)"
  value       = module.rds.database_url_secret_arn
}

output "kafka_mode" {
  description = "Which Kafka the services use: self-hosted, msk or external"
  value       = var.kafka_mode
}

output "kafka_bootstrap_servers" {
  description = "KAFKA_BROKERS of the services"
  value       = local.kafka_brokers
}

output "kafka_security" {
  description = "KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_MECHANISM of the services"
  value       = { protocol = local.kafka_security_protocol, sasl_mechanism = local.kafka_sasl_mechanism }
}

output "msk_cluster_arn" {
  description = "The MSK cluster (kafka_mode = \"msk\"); null otherwise"
  value       = one(module.msk[*].cluster_arn)
}

output "msk_scram_secret_arn" {
  description = "The AmazonMSK_ secret of the SCRAM user (msk_auth = \"scram\"); null otherwise"
  value       = one(module.msk[*].scram_secret_arn)
}

output "redis_url" {
  description = "REDIS_URL of the services (TLS)"
  value       = module.redis.url
}

output "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret holding Redis's AUTH token (REDIS_PASSWORD)"
  value       = module.redis.auth_token_secret_arn
}

output "admin_token_secret_arn" {
  description = "The Secrets Manager secret holding the API's admin token"
  value       = aws_secretsmanager_secret.admin_token.arn
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm (and of ECS's failed starts and deployments): subscribe pagers, chat or more addresses to it"
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "The CloudWatch alarms, each with its runbook section in terraform/README.md"
  value       = sort([for alarm in aws_cloudwatch_metric_alarm.platform : alarm.alarm_name])
}

output "deploy_role_arn" {
  description = "The deploy workflow's role: the repository's AWS_DEPLOY_ROLE_ARN secret, in its github_environment environment"
  value       = aws_iam_role.deploy.arn
}

output "image_tag" {
  description = "The commit the task definitions Terraform registers run: the one the deploy workflow last recorded, or image_tag"
  value       = local.image_tag
}

output "audit_log_bucket" {
  description = "S3 bucket of the load balancer's access logs (alb/) and the VPC's flow logs (vpc-flow-logs/); null without audit_logs"
  value       = one(aws_s3_bucket.logs[*].id)
}

output "master_database_url_secret_arn" {
  description = "Secrets Manager secret holding the migrate task's DATABASE_URL (the schema's owner); the services' is database_url_secret_arn"
  value       = module.rds.master_database_url_secret_arn
}
