variable "name" {
  description = "Replication group id, and the prefix of its resources (at most 40 characters)"
  type        = string
}

variable "vpc_id" {
  description = "Where Redis's security group lives"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cache subnet group"
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group allowed to connect (the ECS hosts')"
  type        = string
}

variable "engine_version" {
  description = "Redis version"
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Cost knob: the node type"
  type        = string
  default     = "cache.t3.micro"
}

variable "snapshot_retention_days" {
  description = "Cost knob: days of daily snapshots; 0 takes none (the snapshot is rebuilt from Postgres anyway)"
  type        = number
  default     = 0
}

variable "secret_recovery_window_days" {
  description = "Days the deleted auth-token secret can be restored; 0 deletes it at once"
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
