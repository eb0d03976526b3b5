variable "name" {
  description = "Cluster name, and the prefix of its hosts' resources"
  type        = string
}

variable "vpc_id" {
  description = "Where the hosts run"
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the hosts (public ones when there is no NAT gateway)"
  type        = list(string)
}

variable "instance_type" {
  description = "Cost knob: the hosts' EC2 type"
  type        = string
  default     = "t3.micro"
}

variable "min_instances" {
  description = "Cost knob: hosts always running"
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Hosts at most"
  type        = number
  default     = 4
}

variable "root_volume_gb" {
  description = "Cost knob: the hosts' root volume in GB (30 is the ECS-optimized AMI's own size and its least)"
  type        = number
  default     = 30
}

variable "container_insights" {
  description = "Cost knob: CloudWatch Container Insights (billed per metric)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
