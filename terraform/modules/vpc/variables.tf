variable "name" {
  description = "Name prefix of every resource"
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; subnets are /24s carved from it"
  type        = string
  default     = "10.0.0.0/16"
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
