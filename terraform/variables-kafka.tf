# Variables of Kafka, apart from variables.tf because Kafka comes three ways
# (kafka_mode) and each way has its own: msk_* for Amazon MSK made here, kafka_brokers
# with kafka_security_protocol and kafka_sasl_* for a Kafka that exists elsewhere, the
# broker's sizes for the self-hosted one. Which combinations go together is checked in
# kafka.tf, before anything is made.

variable "kafka_mode" {
  description = "Which Kafka the services use: \"self-hosted\" (one broker on the ECS cluster: the cheap option and not for production, with one broker, PLAINTEXT and no replication), \"msk\" (Amazon MSK made here, TLS and SASL, three replicas) or \"external\" (an existing Kafka at kafka_brokers)"
  type        = string
  default     = "self-hosted"
  validation {
    condition     = contains(["self-hosted", "msk", "external"], var.kafka_mode)
    error_message = "kafka_mode must be \"self-hosted\", \"msk\" or \"external\"."
  }
}

variable "kafka_topic_partitions" {
  description = "Partitions of each topic `topics create` makes: no more tasks of one consumer service than this share the work"
  type        = number
  default     = 9

  validation {
    condition     = var.kafka_topic_partitions >= 1 && var.kafka_topic_partitions <= 1000
    error_message = "kafka_topic_partitions must be between 1 and 1000."
  }
}

variable "kafka_replication_factor" {
  description = "Replication factor `topics create` uses; null (the default) takes 1 for the self-hosted broker and 3 for MSK and an external Kafka"
  type        = number
  default     = null
  validation {
    condition     = var.kafka_replication_factor == null ? true : var.kafka_replication_factor >= 1
    error_message = "kafka_replication_factor must be at least 1 (or null for the mode's default)."
  }
}

# --- kafka_mode = "msk" ---------------------------------------------------------------------

variable "msk_auth" {
  description = "How the services log in to MSK: \"iam\" (their task roles sign tokens: no password to keep) or \"scram\" (SCRAM-SHA-512 with a user and password made here and kept in Secrets Manager)"
  type        = string
  default     = "iam"
  validation {
    condition     = contains(["iam", "scram"], var.msk_auth)
    error_message = "msk_auth must be \"iam\" or \"scram\"."
  }
}

variable "msk_kafka_version" {
  description = "Apache Kafka version of the MSK brokers (3.8.x: MSK applies the patch releases)"
  type        = string
  default     = "3.8.x"
}

variable "msk_instance_type" {
  description = "Cost knob: MSK broker instance type"
  type        = string
  default     = "kafka.t3.small"
}

variable "msk_broker_count" {
  description = "Cost knob: MSK brokers, a multiple of 3: the VPC then has three private subnets in three availability zones, and MSK puts as many brokers in each"
  type        = number
  default     = 3
  validation {
    condition     = var.msk_broker_count >= 3 && var.msk_broker_count % 3 == 0
    error_message = "msk_broker_count must be a multiple of 3 (as many brokers in each of the three private subnets), at least 3."
  }
}

variable "msk_volume_gb" {
  description = "Cost knob: EBS storage per MSK broker in GB"
  type        = number
  default     = 100
  validation {
    condition     = var.msk_volume_gb >= 1 && var.msk_volume_gb <= 16384
    error_message = "msk_volume_gb must be between 1 and 16384."
  }
}

# --- kafka_mode = "external" ----------------------------------------------------------------

variable "kafka_brokers" {
  description = "Bootstrap servers (host:port,…) of an existing Kafka, with kafka_mode = \"external\" only"
  type        = string
  default     = ""
}

variable "kafka_security_protocol" {
  description = "KAFKA_SECURITY_PROTOCOL of the external Kafka: PLAINTEXT, SSL or SASL_SSL"
  type        = string
  default     = "PLAINTEXT"
  validation {
    condition     = contains(["PLAINTEXT", "SSL", "SASL_SSL"], var.kafka_security_protocol)
    error_message = "kafka_security_protocol must be PLAINTEXT, SSL or SASL_SSL."
  }
}

variable "kafka_sasl_mechanism" {
  description = "KAFKA_SASL_MECHANISM of the external Kafka with SASL_SSL: SCRAM-SHA-512, SCRAM-SHA-256 or AWS_MSK_IAM; empty without SASL"
  type        = string
  default     = ""
  validation {
    condition     = contains(["", "SCRAM-SHA-512", "SCRAM-SHA-256", "AWS_MSK_IAM"], var.kafka_sasl_mechanism)
    error_message = "kafka_sasl_mechanism must be empty, SCRAM-SHA-512, SCRAM-SHA-256 or AWS_MSK_IAM."
  }
}

variable "kafka_sasl_username" {
  description = "KAFKA_SASL_USERNAME of the external Kafka (SCRAM)"
  type        = string
  default     = ""
}

variable "kafka_sasl_password_secret_arn" {
  description = "Secrets Manager secret of the external Kafka's SCRAM password (KAFKA_SASL_PASSWORD): its ARN when the whole value is the password, or ARN:json-key:: for one key of a JSON secret (an MSK AmazonMSK_ secret: ARN:password::)"
  type        = string
  default     = ""
  validation {
    # kafka.tf takes the secret's own ARN from the first seven parts.
    condition     = var.kafka_sasl_password_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^:]+(:[^:]*:[^:]*:[^:]*)?$", var.kafka_sasl_password_secret_arn))
    error_message = "kafka_sasl_password_secret_arn must be a Secrets Manager ARN (arn:aws:secretsmanager:…), optionally with :json-key:: after it."
  }
}

variable "kafka_sasl_password_kms_key_arn" {
  description = "The customer-managed KMS key that secret is encrypted with, if any (MSK's SCRAM secrets are): the task execution role may then decrypt with it"
  type        = string
  default     = ""
}

variable "kafka_msk_cluster_arn" {
  description = "ARN of the external MSK cluster, with kafka_sasl_mechanism = AWS_MSK_IAM: the task roles get the kafka-cluster actions the services need on it, its topics and its groups"
  type        = string
  default     = ""
}

# --- kafka_mode = "self-hosted" -------------------------------------------------------------

variable "kafka_image_tag" {
  description = "Tag of the apache/kafka image of the single broker"
  type        = string
  default     = "3.9.1"
}

variable "kafka_cpu" {
  description = "Cost knob: CPU units reserved for the single broker"
  type        = number
  default     = 512
}

variable "kafka_memory" {
  description = "Cost knob: memory of the single broker in MiB (hard limit and reservation)"
  type        = number
  default     = 512
}

variable "kafka_heap_mb" {
  description = "JVM heap of the single broker in MiB (about half of kafka_memory)"
  type        = number
  default     = 256
}

variable "kafka_log_retention_hours" {
  description = "Hours the single broker keeps messages (on the host's root volume)"
  type        = number
  default     = 24
}
