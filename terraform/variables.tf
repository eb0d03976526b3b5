variable "region" {
  description = "AWS region"
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Name of the environment (production, staging, …); part of every name"
  type        = string
  default     = "production"
}

variable "vpc_cidr" {
  description = "The VPC's address range"
  type        = string
  default     = "10.0.0.0/16"
}

variable "create_nat_gateway" {
  description = "Cost knob: a NAT gateway for the private subnets (about 32 USD a month)"
  type        = bool
  default     = false
}

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

variable "tags" {
  description = "Extra tags for every resource"
  type        = map(string)
  default     = {}
}
