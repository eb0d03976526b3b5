//! Where state lives: the SQL database (Postgres, or SQLite in embedded mode) and the
//! Redis that holds the rule snapshot (in-process in embedded mode).

use std::path::PathBuf;

use clap::Args;

use super::secret::{Secret, redacted_url};

#[derive(Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseConfig {
    /// Postgres (`postgres://user:password@host:5432/db`) or SQLite (`sqlite://path`).
    /// Unset: SQLite at $DATA_DIR/alerting.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where embedded mode keeps its files (the SQLite database).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Connections in the database pool [default: 10 for Postgres, 2 for SQLite].
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: Option<u32>,
}

impl DatabaseConfig {
    /// SQLite has one writer at a time and each connection keeps its own page cache:
    /// two connections are as fast as ten under load (writers queue in the pool
    /// instead of sleeping in SQLite's busy handler) and need half the memory.
    pub fn max_connections(&self, sqlite: bool) -> u32 {
        self.database_max_connections
            .unwrap_or(if sqlite { 2 } else { 10 })
    }
}

#[derive(Clone, Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisConfig {
    /// Redis for the rule snapshot: `redis://host:6379`, or `rediss://host:6379` over TLS
    /// (ElastiCache with in-transit encryption), with `user:password@` when it asks for
    /// AUTH. Unset: in-process (embedded mode).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// The AUTH password (an ElastiCache auth token), instead of one in REDIS_URL (in
    /// ECS, from Secrets Manager). Wins over a password in the URL.
    #[arg(long, env = "REDIS_PASSWORD", hide_env_values = true, value_parser = Secret::parse)]
    pub redis_password: Option<Secret>,

    /// PEM file of the CA certificates that vouch for Redis over `rediss://`. Unset: the
    /// system's roots (which vouch for ElastiCache).
    #[arg(long, env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// Prepended to every Redis key and channel.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "alerting")]
    pub redis_key_prefix: String,
}

impl RedisConfig {
    /// No Redis: for services that do not use the snapshot.
    pub fn none() -> Self {
        Self {
            redis_url: None,
            redis_password: None,
            redis_ca_file: None,
            redis_key_prefix: "alerting".to_owned(),
        }
    }
}

// By hand: the URLs may carry passwords, which `Debug` must not print.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redacted_url),
            )
            .field("data_dir", &self.data_dir)
            .field("database_max_connections", &self.database_max_connections)
            .finish()
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("redis_url", &self.redis_url.as_deref().map(redacted_url))
            .field("redis_password", &self.redis_password)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_key_prefix", &self.redis_key_prefix)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_print_without_their_passwords() {
        let redis = RedisConfig {
            redis_url: Some("rediss://default:hunter2@cache:6379".to_owned()),
            ..RedisConfig::none()
        };
        let database = DatabaseConfig {
            database_url: Some("postgres://app:hunter2@db/alerting".to_owned()),
            data_dir: "./data".into(),
            database_max_connections: None,
        };
        for printed in [format!("{redis:?}"), format!("{database:?}")] {
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains("***"), "{printed}");
        }
    }
}
