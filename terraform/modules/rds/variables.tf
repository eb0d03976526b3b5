variable "name" {
  description = "Identifier of the instance, and the prefix of its resources"
  type        = string
}

variable "vpc_id" {
  description = "Where the database's security group lives"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group (two availability zones)"
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group allowed to connect (the ECS hosts')"
  type        = string
}

variable "engine_version" {
  description = "Postgres major version; AWS picks the minor one"
  type        = string
  default     = "15"
}

variable "ca_bundle_path" {
  description = "Where the container image keeps Amazon RDS's CA bundle (the Dockerfile's ADD); DATABASE_URL's sslrootcert"
  type        = string
  default     = "/etc/ssl/certs/rds-global-bundle.pem"
}

variable "app_username" {
  description = "The application's own Postgres role, which `alerting migrate` makes (DATABASE_APP_URL)"
  type        = string
  default     = "alerting_app"
}

variable "log_retention_days" {
  description = "Cost knob: days CloudWatch keeps the server and upgrade logs"
  type        = number
  default     = 14
}

variable "instance_class" {
  description = "Cost knob: the instance class"
  type        = string
  default     = "db.t3.micro"
}

variable "allocated_storage" {
  description = "Cost knob: gp3 storage in GB (20 is the gp3 minimum)"
  type        = number
  default     = 20
}

variable "backup_retention_days" {
  description = "Cost knob: days of automated backups (storage beyond the database's size is billed)"
  type        = number
  default     = 7
}

variable "multi_az" {
  description = "Cost knob: a standby in a second availability zone (doubles the instance and storage price)"
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (production)"
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (everything but production)"
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored; 0 deletes it at once"
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
