variable "name" {
  description = "Name of the load balancer (at most 32 characters) and prefix of its resources"
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the load balancer and its target groups"
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets, one per availability zone"
  type        = list(string)
}

variable "target_security_group_id" {
  description = "Security group of the ECS hosts, the only place the load balancer sends traffic to"
  type        = string
}

variable "host_port_range" {
  description = "First and last dynamic host port of bridge-networked tasks"
  type        = list(number)
  default     = [32768, 65535]
}

variable "rule_service_port" {
  description = "Container port of the rule-service"
  type        = number
  default     = 8080
}

variable "alert_producer_port" {
  description = "Container port of the alert-producer"
  type        = number
  default     = 8081
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS; empty serves plain HTTP"
  type        = string
  default     = ""
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener"
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "deregistration_delay" {
  description = "Seconds a draining target keeps its requests (the services answer quickly)"
  type        = number
  default     = 30
}

variable "idle_timeout" {
  description = "Seconds a connection may be idle, and so the longest a request may wait for its answer: above the services' own request timeout (90 s), so that they answer 408 first rather than the load balancer 504"
  type        = number
  default     = 120
}

variable "access_logs_bucket" {
  description = "S3 bucket of the access logs; empty: none"
  type        = string
  default     = ""
}

variable "access_logs_prefix" {
  description = "Key prefix of the access logs in the bucket"
  type        = string
  default     = "alb"
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (production)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
