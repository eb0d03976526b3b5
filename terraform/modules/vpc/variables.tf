variable "name" {
  description = "Name prefix of every resource"
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; subnets are /24s carved from it"
  type        = string
  default     = "10.0.0.0/16"
}

variable "private_subnet_count" {
  description = "Private subnets, one per availability zone: 2, or 3 for MSK (one broker per zone)"
  type        = number
  default     = 2
  validation {
    condition     = contains([2, 3], var.private_subnet_count)
    error_message = "private_subnet_count must be 2 or 3."
  }
}

variable "create_nat_gateway" {
  description = "One NAT gateway for the private subnets (about 35 USD a month in eu-west-1, plus traffic)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource"
  type        = map(string)
  default     = {}
}
