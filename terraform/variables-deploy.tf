# Variables of how the platform is watched and deployed: the alarms (alarms.tf), the
# GitHub deploy role (github.tf) and the audit logs (logs.tf), apart from variables.tf
# because none of them changes what the services do.

# --- alarms ---------------------------------------------------------------------------------

variable "alarm_email" {
  description = "Address the alarm topic mails (confirm the subscription from the first email); empty: none, subscribe to the alarm_topic_arn output instead"
  type        = string
  default     = ""
  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address, or empty."
  }
}

variable "alarm_5xx_percent" {
  description = "Percent of a service's answers through the load balancer that may be 5xx over 10 minutes before its alarm fires"
  type        = number
  default     = 5
}

variable "alarm_db_connections" {
  description = "Postgres connections above which its alarm fires (a db.t3.micro allows about 80)"
  type        = number
  default     = 60
}

variable "alarm_consumer_lag" {
  description = "Messages a consumer may be behind; above this and not falling for 15 minutes, its alarm fires"
  type        = number
  default     = 1000
}

variable "alarm_deliveries_failed" {
  description = "Deliveries that may fail for good in 5 minutes before the alarm fires (receivers' own outages count too)"
  type        = number
  default     = 10
}

# --- the GitHub deploy role -------------------------------------------------------------------

variable "github_repository" {
  description = "owner/name of the GitHub repository whose deploy workflow may assume the deploy role"
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, e.g. acme/alerting."
  }
}

variable "github_environment" {
  description = "The protected GitHub environment of the deploy jobs: the only workflow runs the deploy role trusts"
  type        = string
  default     = "production"
}

variable "github_oidc_provider_arn" {
  description = "ARN of GitHub's OIDC provider when the account has one already (there is one per account); empty: made here"
  type        = string
  default     = ""
}

# --- audit logs -----------------------------------------------------------------------------

variable "audit_logs" {
  description = "The load balancer's access logs and the VPC's flow logs, to an S3 bucket; null: in production only"
  type        = bool
  default     = null
}

variable "audit_log_retention_days" {
  description = "Cost knob: days the access and flow logs are kept"
  type        = number
  default     = 90
}
