variable "region" {
  description = "AWS region"
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Name of the environment (production, staging, …); part of every name"
  type        = string
  default     = "production"
  validation {
    # alerting-platform-<environment> names the load balancer, which takes 32 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,13}$", var.environment))
    error_message = "Lower-case letters, digits and hyphens, at most 14 characters."
  }
}

variable "vpc_cidr" {
  description = "The VPC's address range"
  type        = string
  default     = "10.0.0.0/16"
}

variable "create_nat_gateway" {
  description = "Cost knob: a NAT gateway for the private subnets (about 35 USD a month in eu-west-1, plus traffic)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource"
  type        = map(string)
  default     = {}
}

# --- ECS hosts ----------------------------------------------------------------------------

variable "instance_type" {
  description = "Cost knob: EC2 type of the ECS hosts"
  type        = string
  default     = "t3.micro"
}

variable "min_instances" {
  description = "Cost knob: ECS hosts always running"
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "ECS hosts at most"
  type        = number
  default     = 4
}

variable "container_insights" {
  description = "Cost knob: CloudWatch Container Insights"
  type        = bool
  default     = false
}

variable "ecr_keep_images" {
  description = "Images kept per ECR repository"
  type        = number
  default     = 20
}

# --- services and tasks ---------------------------------------------------------------------

variable "image_tag" {
  description = "Image tag (commit) of the task definitions Terraform registers; needed on the first apply only: the deploy workflow records every commit it deploys, and Terraform takes that one when this is empty"
  type        = string
  default     = ""
  validation {
    # Tags are immutable commits (modules/ecr): a moving tag such as latest is never pushed.
    condition     = var.image_tag != "latest"
    error_message = "image_tag must be a commit that was pushed (the repositories hold no latest tag), or empty to take the one the deploy workflow recorded."
  }
}

variable "task_cpu" {
  description = "Cost knob: CPU units reserved per app task (1024 = one vCPU; a t3.micro has 2048)"
  type        = number
  default     = 128
}

variable "task_memory" {
  description = "Hard memory limit per app task in MiB"
  type        = number
  default     = 160
}

variable "task_memory_reservation" {
  description = "Cost knob: memory reserved per app task in MiB (what decides how many hosts the tasks need)"
  type        = number
  default     = 64
}

variable "service_min_tasks" {
  description = "Cost knob: fewest tasks of each auto-scaled service"
  type        = number
  default     = 1
}

variable "service_max_tasks" {
  description = "Cost knob: most tasks of each auto-scaled service"
  type        = number
  default     = 3
}

variable "service_sizing" {
  description = "Overrides of task_cpu, task_memory, task_memory_reservation, service_min_tasks and service_max_tasks by service or task (migrate, topics, snapshot-rebuild, redrive); the rule-updater always runs exactly one task"
  type = map(object({
    cpu                = optional(number)
    memory             = optional(number)
    memory_reservation = optional(number)
    min_tasks          = optional(number)
    max_tasks          = optional(number)
  }))
  default = {}
}

variable "log_retention_days" {
  description = "Cost knob: days CloudWatch keeps the logs of every service and task"
  type        = number
  default     = 14
}

variable "rust_log" {
  description = "Log filter of every service (RUST_LOG); more logs cost more ingestion"
  type        = string
  default     = "info"
}

variable "cloudwatch_metrics" {
  description = "Cost knob: services send their metrics to CloudWatch (CLOUDWATCH_METRICS); /metrics serves them either way"
  type        = bool
  default     = true
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the services' metrics, the only one their role may write to"
  type        = string
  default     = "AlertingPlatform"
}

variable "snapshot_rebuild_schedule" {
  description = "When `alerting job snapshot-rebuild` runs (EventBridge schedule expression)"
  type        = string
  default     = "rate(5 minutes)"
}

variable "redrive_schedule" {
  description = "When `alerting job redrive` runs (EventBridge schedule expression)"
  type        = string
  default     = "rate(1 minute)"
}

variable "ingest_rate_limit" {
  description = "Alert ingestion requests per second per API key, per alert-producer task (INGEST_RATE_LIMIT); 0 for no limit"
  type        = number
  default     = 100
}

# --- load balancer --------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate of the load balancer's HTTPS listener (HTTP then redirects); required in production, elsewhere empty serves plain HTTP"
  type        = string
  default     = ""
  validation {
    condition     = var.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate's ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
  }
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection, and so waits for an answer: above the services' request timeout (90 s), so they answer 408 before it answers 504; the services keep connections 15 s longer (HTTP_IDLE_TIMEOUT)"
  type        = number
  default     = 120
  validation {
    condition     = var.alb_idle_timeout > 90 && var.alb_idle_timeout <= 4000
    error_message = "alb_idle_timeout must be above the services' 90 s request timeout (and at most 4000, the load balancer's limit)."
  }
}

# --- Postgres -------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "Cost knob: RDS instance class"
  type        = string
  default     = "db.t3.micro"
}

variable "db_allocated_storage" {
  description = "Cost knob: RDS gp3 storage in GB"
  type        = number
  default     = 20
}

variable "db_backup_retention_days" {
  description = "Cost knob: days of automated RDS backups"
  type        = number
  default     = 7
}

variable "db_multi_az" {
  description = "Cost knob: an RDS standby in a second availability zone (doubles the RDS price)"
  type        = bool
  default     = false
}

variable "database_max_connections" {
  description = "Connection pool size per task (DATABASE_MAX_CONNECTIONS); all tasks together must stay under the instance's max_connections (about 80 on a db.t3.micro)"
  type        = number
  default     = 5
}

# --- Redis ----------------------------------------------------------------------------------

variable "redis_node_type" {
  description = "Cost knob: ElastiCache node type"
  type        = string
  default     = "cache.t3.micro"
}

variable "redis_snapshot_retention_days" {
  description = "Cost knob: days of daily Redis snapshots (0: none; the snapshot is rebuilt from Postgres)"
  type        = number
  default     = 0
}

# Kafka: variables-kafka.tf.
