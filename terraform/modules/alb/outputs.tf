output "dns_name" {
  value = aws_lb.this.dns_name
}

output "zone_id" {
  description = "For a Route 53 alias record"
  value       = aws_lb.this.zone_id
}

output "https" {
  description = "Whether an HTTPS listener serves"
  value       = local.https
}

output "target_group_arns" {
  description = "By service (rule-service, alert-producer)"
  value       = { for service, group in aws_lb_target_group.service : service => group.arn }
  # ECS refuses a target group that no listener uses yet.
  depends_on = [aws_lb_listener.http, aws_lb_listener.https, aws_lb_listener_rule.alerts]
}

output "security_group_id" {
  value = aws_security_group.alb.id
}

output "arn_suffix" {
  description = "The LoadBalancer dimension of its CloudWatch metrics"
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffixes" {
  description = "By service: the TargetGroup dimension of its CloudWatch metrics"
  value       = { for service, group in aws_lb_target_group.service : service => group.arn_suffix }
}
