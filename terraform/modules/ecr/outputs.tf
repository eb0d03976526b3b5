output "repository_urls" {
  description = "By service"
  value       = { for service, repository in aws_ecr_repository.service : service => repository.repository_url }
}
