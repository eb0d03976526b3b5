variable "services" {
  description = "One repository for each"
  type        = list(string)
}

variable "repository_prefix" {
  description = "Repositories are <prefix>/<service>"
  type        = string
  default     = "alerting-platform"
}

variable "keep_images" {
  description = "Images kept per repository (older ones expire)"
  type        = number
  default     = 20
}

variable "force_delete" {
  description = "Let `terraform destroy` delete repositories that still hold images"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every repository"
  type        = map(string)
  default     = {}
}
