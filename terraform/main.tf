# The alerting platform on AWS: wiring of the modules. This is the first slice (network
# and image repositories); the ECS cluster, RDS, Redis, Kafka, load balancer and
# services follow (issue 7).

locals {
  name = "alerting-platform-${var.environment}"
  tags = merge(var.tags, {
    Project     = "alerting-platform"
    Environment = var.environment
  })
  services = ["rule-service", "alert-producer", "rule-updater", "evaluator", "aggregator", "sender"]
}

module "vpc" {
  source             = "./modules/vpc"
  name               = local.name
  cidr_block         = var.vpc_cidr
  create_nat_gateway = var.create_nat_gateway
  tags               = local.tags
}

module "ecr" {
  source       = "./modules/ecr"
  services     = local.services
  keep_images  = var.ecr_keep_images
  force_delete = var.environment != "production"
  tags         = local.tags
}
