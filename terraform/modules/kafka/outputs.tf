output "bootstrap_servers" {
  description = "KAFKA_BROKERS of the services (the broker's advertised listener)"
  value       = "${local.address}:9092"
}

output "service_name" {
  value = aws_ecs_service.kafka.name
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.kafka.name
}

output "security_group_id" {
  value = aws_security_group.kafka.id
}
