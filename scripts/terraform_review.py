"""The deploy review's items that checkov cannot see, checked against the code, the
deploy workflow and the runbook (imported by check-terraform.py): the alarms cover
every watched part, name metrics the services publish and runbook sections that
exist; production needs a certificate; the load balancer sends every alert-producer
route there, keeps /metrics in and waits longer than the services' request timeout;
the hosts' metadata is one hop and their disks encrypted; the state backend is
partial S3; the self-hosted broker makes topics with kafka_topic_partitions; the
task definitions take the recorded image tag; the services connect as the
application's role and only migrate as the owner; the deploy role trusts only the
environment the workflow's jobs name, and only they may ask for a token."""

import pathlib
import re

import yaml

# Every part the alarms must watch, by runbook section.
RUNBOOKS = {
    "alb-5xx", "alb-unhealthy-targets", "ecs-tasks-below-desired", "rds-cpu",
    "rds-free-storage", "rds-connections", "redis-memory", "redis-evictions",
    "consumer-lag", "deliveries-failing", "dead-letters", "snapshot-stale", "job-failures",
}
# Routes of the alert-producer the load balancer need not pass on.
INTERNAL_ROUTES = {"/health", "/ready", "/metrics", "/api/v1/openapi.json"}


def anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def alb_pattern_matches(pattern, path):
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), path) is not None


def check(root):
    """Returns (problems, summary)."""
    repository = root.resolve().parent
    text = {path.relative_to(root).as_posix(): path.read_text() for path in root.rglob("*.tf")}
    problems = []

    def need(condition, problem):
        if not condition:
            problems.append(f"{root}: {problem}")

    # Alarms: the parts, the runbook sections, the metrics.
    alarms = text.get("alarms.tf", "")
    runbooks = set(re.findall(r'runbook\s*=\s*"([a-z0-9-]+)"', alarms))
    runbooks |= set(re.findall(r"\$\{local\.runbook\}([a-z0-9-]+)", alarms))
    readme = root / "README.md"
    headings, fenced = set(), False
    for line in readme.read_text().splitlines():
        fenced ^= line.startswith("```")
        if line.startswith("#") and not fenced:
            headings.add(anchor(line.lstrip("#")))
    for missing in sorted(RUNBOOKS - runbooks):
        problems.append(f"{root}/alarms.tf: no alarm for {missing}")
    for slug in sorted(runbooks - headings):
        problems.append(f"{root}/alarms.tf: runbook {slug} has no section in {readme} (a heading `{slug}`)")
    published = set(re.findall(r'cloudwatch_name: "([A-Za-z]+)"', (repository / "handlers/src/metrics.rs").read_text()))
    published |= set(re.findall(r'^\s+"([A-Z][A-Za-z]+)",$', (repository / "handlers/src/metrics.rs").read_text(), re.M))
    services = set()
    for path in (repository / "src/services").glob("*.rs"):
        services |= set(re.findall(r'service: "([a-z-]+)"', path.read_text()))
    own = re.findall(r'namespace = local\.platform\.namespace, metric = "([A-Za-z]+)"[^\n]*?Service = "?([a-z-]+)"?', alarms)
    need(own, "alarms.tf: no alarm on the platform's own metrics")
    for metric, service in own:
        need(metric in published, f"alarms.tf: the services publish no metric {metric} (handlers/src/metrics.rs)")
        need(service in services or service in ("consumer", "service"), f"alarms.tf: no service is called {service}")
    need("alarm_topic_arn" in text.get("outputs.tf", ""), "outputs.tf: no alarm_topic_arn output to subscribe to")

    # TLS in production.
    need(re.search(r'condition\s*=\s*var\.environment != "production" \|\| var\.certificate_arn != ""', text.get("main.tf", "")),
         "main.tf: no precondition that production has a certificate")
    example = (root / "terraform.tfvars.example").read_text()
    environment = re.search(r'^environment\s*=\s*"([^"]*)"', example, re.M)
    certificate = re.search(r'^certificate_arn\s*=\s*"([^"]*)"', example, re.M)
    need(not environment or environment.group(1) != "production" or (certificate and certificate.group(1)),
         "terraform.tfvars.example: production without a certificate_arn would not plan")

    # The load balancer.
    alb = text.get("modules/alb/main.tf", "")
    listed = re.search(r"alert_producer_paths\s*=\s*\[([^\]]*)\]", alb)
    patterns = re.findall(r'"([^"]+)"', listed.group(1)) if listed else []
    need(patterns, "modules/alb: no alert_producer_paths")
    need(len(patterns) <= 5, "modules/alb: an ALB condition takes at most five paths")
    routes = set()
    for path in (repository / "handlers/src/http/alert_producer").glob("*.rs"):
        routes |= set(re.findall(r'path = "([^"]+)"', path.read_text()))
    for route in sorted(routes - INTERNAL_ROUTES):
        concrete = re.sub(r"\{[^}]+\}", "x", route)
        need(any(alb_pattern_matches(pattern, concrete) for pattern in patterns),
             f"modules/alb: the alert-producer's {route} is not routed to it")
    need(re.search(r'values\s*=\s*\["/metrics"', alb) and 'type = "fixed-response"' in alb,
         "modules/alb: /metrics is not kept from the internet")
    timeout = re.search(r"REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs\((\d+)\)",
                        (repository / "handlers/src/http/mod.rs").read_text())
    idle = re.search(r'variable "alb_idle_timeout" \{.*?default\s*=\s*(\d+)', text.get("variables.tf", ""), re.S)
    need(timeout and idle and int(idle.group(1)) > int(timeout.group(1)),
         "variables.tf: alb_idle_timeout's default must be above the services' REQUEST_TIMEOUT (handlers/src/http/mod.rs)")
    need("idle_timeout             = var.alb_idle_timeout" in text.get("main.tf", ""), "main.tf: the ALB does not take alb_idle_timeout")
    need('HTTP_IDLE_TIMEOUT        = "${var.alb_idle_timeout + 15}s"' in text.get("main.tf", ""),
         "main.tf: the services' HTTP_IDLE_TIMEOUT does not outlast the ALB's idle timeout")

    # Hosts, network, state.
    hosts = text.get("modules/ecs-cluster/main.tf", "")
    need(re.search(r"http_put_response_hop_limit\s*=\s*1\b", hosts), "modules/ecs-cluster: metadata hop limit is not 1")
    need(re.search(r'http_tokens\s*=\s*"required"', hosts), "modules/ecs-cluster: IMDSv2 is not required")
    need(re.search(r"block_device_mappings\s*\{.*?encrypted\s*=\s*true", hosts, re.S), "modules/ecs-cluster: the root volume is not encrypted")
    default_group = re.search(r'resource "aws_default_security_group" "this" \{(.*?)\n\}', text.get("modules/vpc/main.tf", ""), re.S)
    need(default_group and "ingress" not in default_group.group(1) and "egress" not in default_group.group(1),
         "modules/vpc: the default security group is not managed without rules")
    need(re.search(r'backend "s3" \{\}', text.get("versions.tf", "")), "versions.tf: no partial S3 backend")
    need(re.search(r"num_partitions\s*=\s*var\.kafka_topic_partitions", text.get("kafka.tf", "")),
         "kafka.tf: the self-hosted broker does not take kafka_topic_partitions")
    need("audit_logs" in text.get("logs.tf", "") and "aws_flow_log" in text.get("logs.tf", ""), "logs.tf: no flow logs")
    need("access_logs_bucket       = local.audit_logs" in text.get("main.tf", ""), "main.tf: the ALB writes no access logs")
    need(re.search(r'enabled_cloudwatch_logs_exports\s*=\s*\["postgresql"', text.get("modules/rds/main.tf", "")),
         "modules/rds: Postgres logs are not exported")

    # The image tag and the database roles.
    need(re.search(r'variable "image_tag" \{.*?default\s*=\s*""', text.get("variables.tf", ""), re.S)
         and "${url}:${local.image_tag}" in text.get("main.tf", ""),
         "the task definitions do not take the recorded image tag (image_tag.tf)")
    main = text.get("main.tf", "")
    need("database_secret = { DATABASE_URL = module.rds.database_url_secret_arn }" in main,
         "main.tf: the services' DATABASE_URL is not the application role's")
    need(re.search(r"DATABASE_URL\s*=\s*module\.rds\.master_database_url_secret_arn", main)
         and re.search(r"DATABASE_APP_URL\s*=\s*module\.rds\.database_url_secret_arn", main)
         and 'task == "migrate" ? tomap(local.migrate_secrets)' in text.get("tasks.tf", ""),
         "only the migrate task may get the master user's URL, with DATABASE_APP_URL")

    # The deploy role against the workflow.
    github = text.get("github.tf", "")
    need('"repo:${var.github_repository}:environment:${var.github_environment}"' in github,
         "github.tf: the deploy role does not trust only the repository's environment")
    environment_default = re.search(r'variable "github_environment" \{.*?default\s*=\s*"([^"]+)"',
                                    text.get("variables-deploy.tf", ""), re.S)
    workflow = yaml.safe_load((repository / ".github/workflows/deploy.yml").read_text())
    jobs = workflow.get("jobs", {})
    need("uses" in jobs.get("ci", {}) and jobs["ci"]["uses"].endswith("/ci.yml"),
         "deploy.yml: the deploy does not run ci.yml first")
    assuming = 0
    for name, job in jobs.items():
        steps = job.get("steps", [])
        assumes = any("configure-aws-credentials" in step.get("uses", "") for step in steps)
        token = (job.get("permissions") or {}).get("id-token") == "write"
        need(assumes == token, f"deploy.yml: job {name} {'assumes the role without' if assumes else 'has'} id-token: write{'' if assumes else ' without assuming the role'}")
        if assumes:
            assuming += 1
            need(environment_default and job.get("environment") == environment_default.group(1),
                 f"deploy.yml: job {name} assumes the role outside the environment the role trusts")
        if name != "ci":
            need(_needs_ci(name, jobs), f"deploy.yml: job {name} does not wait for ci")
    need(workflow.get("permissions") == {}, "deploy.yml: the workflow grants permissions to every job")

    summary = (
        f"terraform review: {len(runbooks)} alarm runbooks ({len(own)} alarms on the platform's own metrics) in "
        f"{readme.name}; {len(routes - INTERNAL_ROUTES)} alert-producer routes behind {len(patterns)} ALB paths; "
        f"idle timeout {idle.group(1) if idle else '?'} s > {timeout.group(1) if timeout else '?'} s; "
        f"{assuming} job(s) of deploy.yml assume the role, in its environment and after ci"
    )
    return problems, summary


def _needs_ci(name, jobs, seen=None):
    seen = seen or set()
    needs = jobs.get(name, {}).get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    return "ci" in needs or any(_needs_ci(other, jobs, seen | {name}) for other in needs if other not in seen)


if __name__ == "__main__":
    import sys

    found, summary = check(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "terraform"))
    print("\n".join(found) or summary)
