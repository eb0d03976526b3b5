variable "name" {
  description = "Name of the cluster and its configuration, and the prefix of its other resources"
  type        = string
}

variable "vpc_id" {
  description = "Where the brokers' security group lives"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the brokers, one per availability zone (two or three)"
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group allowed to connect (the ECS hosts')"
  type        = string
}

variable "auth" {
  description = "How clients authenticate: iam (SASL/IAM with the task role, port 9098) or scram (SASL/SCRAM-SHA-512 with a user in Secrets Manager, port 9096)"
  type        = string
  default     = "iam"
  validation {
    condition     = contains(["iam", "scram"], var.auth)
    error_message = "auth must be \"iam\" or \"scram\"."
  }
}

variable "scram_username" {
  description = "The SCRAM user (auth = scram)"
  type        = string
  default     = "alerting"
}

variable "kafka_version" {
  description = "Apache Kafka version of the brokers (3.8.x: MSK applies the patch releases)"
  type        = string
  default     = "3.8.x"
}

variable "instance_type" {
  description = "Cost knob: broker instance type"
  type        = string
  default     = "kafka.t3.small"
}

variable "broker_count" {
  description = "Cost knob: brokers in all, a multiple of the number of subnets (MSK puts as many in each); at least 3 for replication factor 3"
  type        = number
  default     = 3
  validation {
    condition     = var.broker_count >= 3
    error_message = "broker_count must be at least 3: topics and the configuration's default.replication.factor take three replicas."
  }
}

variable "volume_gb" {
  description = "Cost knob: EBS storage per broker in GB"
  type        = number
  default     = 100
}

variable "log_group_name" {
  description = "CloudWatch log group of the broker logs"
  type        = string
}

variable "log_retention_days" {
  description = "Cost knob: days the broker logs are kept"
  type        = number
  default     = 14
}

variable "secret_recovery_window_days" {
  description = "Days the deleted SCRAM secret can be restored; 0 deletes it at once"
  type        = number
  default     = 30
}

variable "kms_deletion_window_days" {
  description = "Days before the deleted SCRAM key is gone for good (7 to 30)"
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
