//! What the services say about themselves: log lines and metrics.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, ValueEnum};

use super::parse_duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for CloudWatch Logs).
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogConfig {
    /// Log line format. Verbosity comes from RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsConfig {
    /// Where a consumer service (`run …`) serves /health and /metrics. Unset: it serves
    /// no HTTP. The HTTP services serve /metrics on their own address.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Also push metrics to CloudWatch (PutMetricData), with credentials and region
    /// from the usual AWS variables or the ECS task role.
    #[arg(long, env = "CLOUDWATCH_METRICS", default_value = "false",
          action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub cloudwatch_metrics: bool,

    /// The CloudWatch namespace.
    #[arg(long, env = "CLOUDWATCH_NAMESPACE", default_value = "AlertingPlatform")]
    pub cloudwatch_namespace: String,

    /// How often metrics are pushed to CloudWatch.
    #[arg(long, env = "CLOUDWATCH_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub cloudwatch_interval: Duration,

    /// Another CloudWatch endpoint (a VPC endpoint, or a test server).
    #[arg(long, env = "CLOUDWATCH_ENDPOINT_URL")]
    pub cloudwatch_endpoint_url: Option<String>,

    /// The Environment dimension of every metric.
    #[arg(long, env = "ENVIRONMENT", default_value = "local")]
    pub environment: String,
}
