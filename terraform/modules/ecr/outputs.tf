output "repository_urls" {
  description = "By service"
  value       = { for service, repository in aws_ecr_repository.service : service => repository.repository_url }
}

output "repository_arns" {
  description = "By service: what the deploy role may push to"
  value       = { for service, repository in aws_ecr_repository.service : service => repository.arn }
}
