# An ECS cluster on EC2: an Auto Scaling group of ECS-optimized Amazon Linux 2023 hosts
# (t3.micro by default, 1–4 of them) behind a capacity provider with managed scaling,
# so the group grows when tasks do not fit and shrinks when hosts are idle.

data "aws_ssm_parameter" "ecs_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
  tags = var.tags
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "host" {
  name               = "${var.name}-host"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "host_ecs" {
  role       = aws_iam_role.host.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_role_policy_attachment" "host_ssm" {
  role       = aws_iam_role.host.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "host" {
  name = "${var.name}-host"
  role = aws_iam_role.host.name
}

# The app tasks use bridge networking (see modules/ecs-service), so this group is
# theirs too: Postgres, Redis and Kafka admit it. Its only inbound rule, the load
# balancer to the dynamic host ports, is added by the root module (the two groups refer
# to each other).
resource "aws_security_group" "host" {
  name_prefix = "${var.name}-host-"
  description = "ECS hosts and their bridge-networked tasks"
  vpc_id      = var.vpc_id
  # Anywhere: ECS, ECR, CloudWatch, Secrets Manager and the tenants' webhooks, Slack
  # and mail servers are on the internet, at addresses nobody can list in advance.
  egress {
    description = "Out to AWS's APIs and the tenants' endpoints"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = var.tags
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_launch_template" "host" {
  name_prefix            = "${var.name}-"
  image_id               = data.aws_ssm_parameter.ecs_ami.value
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.host.id]
  iam_instance_profile {
    arn = aws_iam_instance_profile.host.arn
  }
  # IMDSv2 only, and one hop: the host's own agent reaches the instance role, but a
  # bridge-networked container (a hop further) cannot, and ECS_AWSVPC_BLOCK_IMDS in the
  # user data keeps it from the awsvpc task (the self-hosted broker) too; tasks get
  # their task roles' credentials from ECS's own endpoint instead.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  # The AMI's root volume (Docker's images and volumes, the self-hosted broker's data),
  # encrypted with the account's EBS key.
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }
  user_data = base64encode(<<-EOT
    #!/bin/bash
    echo "ECS_CLUSTER=${var.name}" >> /etc/ecs/ecs.config
    echo "ECS_ENABLE_TASK_IAM_ROLE=true" >> /etc/ecs/ecs.config
    echo "ECS_AWSVPC_BLOCK_IMDS=true" >> /etc/ecs/ecs.config
  EOT
  )
  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-host" })
  }
}

resource "aws_autoscaling_group" "hosts" {
  name_prefix           = "${var.name}-"
  min_size              = var.min_instances
  max_size              = var.max_instances
  vpc_zone_identifier   = var.subnet_ids
  protect_from_scale_in = true
  launch_template {
    id      = aws_launch_template.host.id
    version = "$Latest"
  }
  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }
}

resource "aws_ecs_capacity_provider" "hosts" {
  name = "${var.name}-hosts"
  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.hosts.arn
    managed_termination_protection = "ENABLED"
    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }
  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = [aws_ecs_capacity_provider.hosts.name]
  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.hosts.name
    weight            = 1
  }
}
