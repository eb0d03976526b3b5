# The alerting platform on AWS: wiring of the modules. So far the network, the image
# repositories and the ECS cluster; RDS, Redis, Kafka, the load balancer and the
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

module "ecs_cluster" {
  source = "./modules/ecs-cluster"
  name   = local.name
  vpc_id = module.vpc.vpc_id
  # Without a NAT gateway, hosts need public addresses to reach ECS and ECR.
  subnet_ids         = var.create_nat_gateway ? module.vpc.private_subnet_ids : module.vpc.public_subnet_ids
  instance_type      = var.instance_type
  min_instances      = var.min_instances
  max_instances      = var.max_instances
  container_insights = var.container_insights
  tags               = local.tags
}
