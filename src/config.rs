//! One configuration struct per concern, each read from the environment (the ECS task
//! definition sets it) with a default that makes `alerting up` work with nothing set.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseConfig {
    /// Postgres (`postgres://user:password@host:5432/db`) or SQLite (`sqlite://path`).
    /// Unset: SQLite at $DATA_DIR/alerting.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where embedded mode keeps its files (the SQLite database).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Connections in the database pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "rule-service")]
pub struct RuleServiceConfig {
    /// Address the rule-service listens on.
    #[arg(long, env = "RULE_SERVICE_ADDR", default_value = "127.0.0.1:8080")]
    pub rule_service_addr: SocketAddr,
}

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
