variable "name" {
  description = "Prefix of every resource; the DNS namespace is <name>.local"
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the DNS namespace and the security group"
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the broker's network interface (private ones; they must cover the hosts' availability zones)"
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group allowed to connect (the ECS hosts')"
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster that runs the broker"
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

variable "image_tag" {
  description = "Tag of the apache/kafka image"
  type        = string
  default     = "3.9.1"
}

variable "cpu" {
  description = "Cost knob: CPU units reserved for the broker (1024 = one vCPU)"
  type        = number
  default     = 512
}

variable "memory" {
  description = "Cost knob: the broker's memory in MiB (a hard limit, and what placement reserves)"
  type        = number
  default     = 512
}

variable "heap_mb" {
  description = "JVM heap in MiB; leave half of `memory` for page cache, metaspace and threads"
  type        = number
  default     = 256
}

variable "num_partitions" {
  description = "Partitions of topics the broker creates itself"
  type        = number
  default     = 9
}

variable "log_retention_hours" {
  description = "How long messages are kept (they share the host's root volume)"
  type        = number
  default     = 24
}

variable "log_group_name" {
  description = "CloudWatch log group of the broker"
  type        = string
}

variable "log_retention_days" {
  description = "Cost knob: days the broker's logs are kept"
  type        = number
  default     = 14
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
