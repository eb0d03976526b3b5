output "address" {
  value = aws_db_instance.this.address
}

output "port" {
  value = aws_db_instance.this.port
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding the services' whole DATABASE_URL (the application's role)"
  value       = aws_secretsmanager_secret.database_url.arn
  # Tasks that read it must not start before it has a value.
  depends_on = [aws_secretsmanager_secret_version.database_url]
}

output "master_database_url_secret_arn" {
  description = "Secrets Manager secret holding the migrate task's DATABASE_URL (the master user)"
  value       = aws_secretsmanager_secret.master_database_url.arn
  depends_on  = [aws_secretsmanager_secret_version.master_database_url]
}

output "security_group_id" {
  value = aws_security_group.db.id
}

output "identifier" {
  description = "The DBInstanceIdentifier dimension of its CloudWatch metrics"
  value       = aws_db_instance.this.identifier
}
