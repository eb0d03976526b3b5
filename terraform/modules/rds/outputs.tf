output "address" {
  value = aws_db_instance.this.address
}

output "port" {
  value = aws_db_instance.this.port
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding the whole DATABASE_URL"
  value       = aws_secretsmanager_secret.database_url.arn
  # Tasks that read it must not start before it has a value.
  depends_on = [aws_secretsmanager_secret_version.database_url]
}

output "security_group_id" {
  value = aws_security_group.db.id
}
