variable "name" {
  description = "The service (rule-service, evaluator, …); also the container's name"
  type        = string
}

variable "prefix" {
  description = "alerting-platform-<environment>; the ECS service and task definition family are <prefix>-<name>"
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster (for the auto scaling target's resource id)"
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster the service runs in"
  type        = string
}

variable "capacity_provider" {
  description = "Capacity provider of the cluster's hosts"
  type        = string
}

variable "region" {
  description = "Region of the log group"
  type        = string
}

variable "image" {
  description = "Image of the first task definition revision (later ones come from the deploy workflow)"
  type        = string
}

variable "command" {
  description = "Arguments of the image's `alerting` entrypoint, e.g. [\"run\", \"evaluator\"]"
  type        = list(string)
}

variable "environment" {
  description = "Environment variables of the container"
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variables read from Secrets Manager: name => secret ARN"
  type        = map(string)
  default     = {}
}

variable "cpu" {
  description = "Cost knob: CPU units reserved per task (1024 = one vCPU); also what CPU target tracking measures against"
  type        = number
  default     = 128
}

variable "memory" {
  description = "Hard memory limit per task in MiB; the container is killed above it"
  type        = number
  default     = 160
}

variable "memory_reservation" {
  description = "Cost knob: memory reserved per task in MiB, what placement counts on a host"
  type        = number
  default     = 64
}

variable "desired_count" {
  description = "Tasks at creation (the autoscaler or the deploy workflow own it afterwards)"
  type        = number
  default     = 1
}

variable "min_count" {
  description = "Cost knob: fewest tasks the autoscaler leaves"
  type        = number
  default     = 1
}

variable "max_count" {
  description = "Cost knob: most tasks the autoscaler starts"
  type        = number
  default     = 3
}

variable "autoscaling" {
  description = "Target tracking on CPU and memory between min_count and max_count"
  type        = bool
  default     = true
}

variable "cpu_target" {
  description = "Average CPU utilization (percent of `cpu`) target tracking holds"
  type        = number
  default     = 70
}

variable "memory_target" {
  description = "Average memory utilization (percent) target tracking holds"
  type        = number
  default     = 80
}

variable "scale_out_cooldown" {
  description = "Seconds after a scale-out before the next one"
  type        = number
  default     = 60
}

variable "scale_in_cooldown" {
  description = "Seconds after a scale-in before the next one"
  type        = number
  default     = 300
}

variable "deployment_minimum_healthy_percent" {
  description = "Tasks that stay up during a deploy, percent of the desired count"
  type        = number
  default     = 100
}

variable "deployment_maximum_percent" {
  description = "Tasks that may run during a deploy, percent of the desired count"
  type        = number
  default     = 200
}

variable "target_group_arn" {
  description = "Load balancer target group of an HTTP service (required with container_port); null for the consumers"
  type        = string
  default     = null
}

variable "container_port" {
  description = "Port the HTTP service listens on in its container (mapped to a dynamic host port); null for the consumers"
  type        = number
  default     = null
}

variable "health_check_command" {
  description = "Container health check; null for none"
  type        = list(string)
  default     = ["CMD", "alerting", "health"]
}

variable "log_group_name" {
  description = "CloudWatch log group, /ecs/alerting-platform/<environment>/<service>"
  type        = string
}

variable "log_retention_days" {
  description = "Cost knob: days the logs are kept"
  type        = number
  default     = 14
}

variable "execution_role_arn" {
  description = "Role ECS pulls the image and reads the secrets with (shared by all services)"
  type        = string
}

variable "task_role_policy_json" {
  description = "IAM policy of the service's own task role"
  type        = string
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
