# The public entry: an internet-facing ALB in the public subnets. The alert-producer's
# routes (`/api/v1/alerts` and under it, the integrations: `/api/v2/alerts`,
# `/api/v1/integrations/*`, `/v2/enqueue`) go to it, everything else to the
# rule-service, except `/metrics`, which answers 404 here: the counters are for the
# operator's scraper inside the VPC, not the internet. With a certificate, HTTPS
# serves and HTTP only redirects; without one, HTTP serves. Targets are ECS hosts at
# the dynamic host ports of bridge-networked tasks. Access logs go to S3 when a bucket
# is given.

locals {
  https = var.certificate_arn != ""
  targets = {
    "rule-service"   = { port = var.rule_service_port, prefix = "rules-" }
    "alert-producer" = { port = var.alert_producer_port, prefix = "alert-" }
  }
  # Every route of the alert-producer (scripts/check-terraform.py compares them with
  # the code's); an ALB condition takes at most five.
  alert_producer_paths = ["/api/v1/alerts", "/api/v1/alerts/*", "/api/v2/alerts", "/api/v1/integrations/*", "/v2/enqueue"]
  # The listener that forwards to the services.
  serving_listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
}

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "The load balancer: HTTP and HTTPS from the internet"
  vpc_id      = var.vpc_id
  ingress {
    description = "HTTP (redirected to HTTPS when there is a certificate)"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    description = "HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = merge(var.tags, { Name = "${var.name}-alb" })
  lifecycle {
    create_before_destroy = true
  }
}

# Out only to the hosts, on the range Docker picks dynamic host ports from (a separate
# rule: the hosts' group refers back to this one).
resource "aws_security_group_rule" "alb_to_hosts" {
  type                     = "egress"
  description              = "Dynamic host ports of the services on the ECS hosts"
  security_group_id        = aws_security_group.alb.id
  from_port                = var.host_port_range[0]
  to_port                  = var.host_port_range[1]
  protocol                 = "tcp"
  source_security_group_id = var.target_security_group_id
}

resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  idle_timeout               = var.idle_timeout
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == "" ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.access_logs_prefix
      enabled = true
    }
  }

  tags = var.tags
}

# Target group names are limited to 32 characters, too few for
# alerting-platform-<environment>-<service>; a prefix and a Name tag instead.
resource "aws_lb_target_group" "service" {
  for_each             = local.targets
  name_prefix          = each.value.prefix
  port                 = each.value.port
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  deregistration_delay = var.deregistration_delay
  health_check {
    enabled             = true
    path                = "/health"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  dynamic "default_action" {
    for_each = local.https ? [1] : []
    content {
      type = "redirect"
      redirect {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }

  dynamic "default_action" {
    for_each = local.https ? [] : [1]
    content {
      type             = "forward"
      target_group_arn = aws_lb_target_group.service["rule-service"].arn
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["rule-service"].arn
  }
  tags = var.tags
}

resource "aws_lb_listener_rule" "alerts" {
  listener_arn = local.serving_listener_arn
  priority     = 10
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["alert-producer"].arn
  }
  condition {
    path_pattern {
      values = local.alert_producer_paths
    }
  }
  tags = var.tags
}

# Before every other rule: the services' Prometheus counters stay inside the VPC.
resource "aws_lb_listener_rule" "metrics" {
  listener_arn = local.serving_listener_arn
  priority     = 1
  action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      message_body = jsonencode({ error = { code = "not_found", message = "no such route" } })
      status_code  = "404"
    }
  }
  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }
  tags = var.tags
}
