output "bootstrap_brokers" {
  description = "KAFKA_BROKERS of the services: the TLS bootstrap string of the listener of `auth` (port 9098 for IAM, 9096 for SCRAM)"
  value       = local.iam ? aws_msk_cluster.this.bootstrap_brokers_sasl_iam : aws_msk_cluster.this.bootstrap_brokers_sasl_scram
  # With SCRAM, no client can log in before the user is associated.
  depends_on = [aws_msk_scram_secret_association.this]
}

output "security_protocol" {
  description = "KAFKA_SECURITY_PROTOCOL of the services"
  value       = "SASL_SSL"
}

output "sasl_mechanism" {
  description = "KAFKA_SASL_MECHANISM of the services"
  value       = local.iam ? "AWS_MSK_IAM" : "SCRAM-SHA-512"
}

output "scram_username" {
  description = "KAFKA_SASL_USERNAME of the services with SCRAM; null with IAM"
  value       = local.scram ? var.scram_username : null
}

output "scram_secret_arn" {
  description = "The AmazonMSK_ secret holding {\"username\", \"password\"} with SCRAM (KAFKA_SASL_PASSWORD is its password key); null with IAM"
  value       = one(aws_secretsmanager_secret.scram[*].arn)
  # Tasks that read it must not start before it has a value.
  depends_on = [aws_secretsmanager_secret_version.scram]
}

output "scram_kms_key_arn" {
  description = "The key the SCRAM secret is encrypted with (whoever reads the secret needs kms:Decrypt on it); null with IAM"
  value       = one(aws_kms_key.scram[*].arn)
}

output "cluster_arn" {
  description = "ARN of the cluster; its topics and groups are topic/… and group/… beside it (IAM policies)"
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  value = aws_msk_cluster.this.cluster_name
}

output "security_group_id" {
  value = aws_security_group.msk.id
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.msk.name
}
