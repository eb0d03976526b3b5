//! One configuration struct per concern, each read from the environment (the ECS task
//! definition sets it) with a default that makes `alerting up` work with nothing set.

use std::{net::SocketAddr, path::PathBuf};

use alerting_handlers::http::rule_service::Quotas;
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

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "rule-service")]
pub struct RuleServiceConfig {
    /// Address the rule-service listens on.
    #[arg(long, env = "RULE_SERVICE_ADDR", default_value = "127.0.0.1:8080")]
    pub rule_service_addr: SocketAddr,

    #[command(flatten)]
    pub quotas: QuotaConfig,
}

const DEFAULT_WRITE_RATE_LIMIT: u32 = 20;

/// What one client may own, and how fast its keys may write. Over a quota the write is
/// refused (422 `quota_exceeded` naming the setting) and nothing is written.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Quotas (per client)")]
pub struct QuotaConfig {
    /// Rules one client may have; 0 for no limit.
    #[arg(long, env = "MAX_RULES_PER_CLIENT", default_value_t = Quotas::default().rules_per_client)]
    pub max_rules_per_client: u32,

    /// Endpoints one rule may have; 0 for no limit.
    #[arg(long, env = "MAX_ENDPOINTS_PER_RULE", default_value_t = Quotas::default().endpoints_per_rule)]
    pub max_endpoints_per_rule: u32,

    /// Endpoints one client may have across its rules; 0 for no limit.
    #[arg(long, env = "MAX_ENDPOINTS_PER_CLIENT", default_value_t = Quotas::default().endpoints_per_client)]
    pub max_endpoints_per_client: u32,

    /// API keys one client may have (revoked ones do not count); 0 for no limit.
    #[arg(long, env = "MAX_KEYS_PER_CLIENT", default_value_t = Quotas::default().keys_per_client)]
    pub max_keys_per_client: u32,

    /// Writes (POST, PUT, PATCH, DELETE) per second per client key, per rule-service
    /// (429 with Retry-After above it); 0 for no limit. The admin token is not limited.
    #[arg(long, env = "WRITE_RATE_LIMIT", default_value_t = DEFAULT_WRITE_RATE_LIMIT)]
    pub write_rate_limit: u32,
}

/// The documented defaults.
impl Default for QuotaConfig {
    fn default() -> Self {
        let quotas = Quotas::default();
        Self {
            max_rules_per_client: quotas.rules_per_client,
            max_endpoints_per_rule: quotas.endpoints_per_rule,
            max_endpoints_per_client: quotas.endpoints_per_client,
            max_keys_per_client: quotas.keys_per_client,
            write_rate_limit: DEFAULT_WRITE_RATE_LIMIT,
        }
    }
}

impl QuotaConfig {
    pub fn quotas(&self) -> Quotas {
        Quotas {
            rules_per_client: self.max_rules_per_client,
            endpoints_per_rule: self.max_endpoints_per_rule,
            endpoints_per_client: self.max_endpoints_per_client,
            keys_per_client: self.max_keys_per_client,
        }
    }
}

/// How long the HTTP services (rule-service, alert-producer) wait for a client.
#[derive(Debug, Clone, Copy, Args)]
#[command(next_help_heading = "HTTP connections")]
pub struct HttpConfig {
    /// How long a client has to send a request's headers, from its first byte (or from
    /// connecting); a connection that takes longer is closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_header_read_timeout: std::time::Duration,

    /// How long a kept-alive connection may stay idle between requests before it is
    /// closed. Keep it above the load balancer's idle timeout (60 s on the ALB).
    #[arg(long, env = "HTTP_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub http_idle_timeout: std::time::Duration,
}

impl HttpConfig {
    pub fn limits(&self) -> crate::runners::http::ConnectionLimits {
        crate::runners::http::ConnectionLimits {
            header_read: self.http_header_read_timeout,
            idle: self.http_idle_timeout,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        let limits = crate::runners::http::ConnectionLimits::default();
        Self {
            http_header_read_timeout: limits.header_read,
            http_idle_timeout: limits.idle,
        }
    }
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

/// Parses `500ms`, `2s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(value: &str) -> Result<std::time::Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration like 500ms, 2s, 5m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {value:?}: use ms, s, m or h"
            ));
        }
    };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("{value:?} must be above zero"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Kafka")]
pub struct KafkaConfig {
    /// Kafka bootstrap servers (host:port,…). Unset: the in-process bus (embedded mode).
    #[arg(long, env = "KAFKA_BROKERS")]
    pub brokers: Option<String>,

    /// Consumer group session timeout; a dead consumer's partitions move after it.
    #[arg(long, env = "KAFKA_SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u32,

    #[command(flatten)]
    pub flow: KafkaFlow,

    /// Messages a consumer fetches ahead of its work, in KiB. librdkafka's default
    /// (64 MiB) would be most of a small task's memory whenever a topic has a backlog.
    #[arg(long, env = "KAFKA_CONSUMER_QUEUE_KB", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1024..=2_097_151))]
    pub consumer_queue_kb: u32,

    /// Prepended to every topic name (to share a cluster between environments).
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,

    /// Prepended to each service's consumer group (`<prefix>evaluator`, …).
    #[arg(long, env = "KAFKA_CONSUMER_GROUP_PREFIX", default_value = "alerting-")]
    pub group_prefix: String,

    /// Replication factor of topics made by `alerting topics create`.
    #[arg(long, env = "KAFKA_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: i32,

    /// How long the producer keeps retrying a message before the publish fails.
    #[arg(long, env = "KAFKA_MESSAGE_TIMEOUT_MS", default_value_t = 60_000)]
    pub message_timeout_ms: u32,
}

/// The Kafka settings that shape how messages flow: how many consumers can share a
/// topic and how long each fetch may wait. `alerting bench` reports them with its
/// numbers, which depend on both.
#[derive(Debug, Clone, Copy, Args, serde::Serialize)]
pub struct KafkaFlow {
    /// The longest a consumer's fetch waits for messages. Apache Kafka answers a fetch
    /// as soon as a message arrives; a broker that holds it the whole time (Tansu does)
    /// adds up to this much latency at every hop, and a short wait costs such a broker
    /// CPU (docs/PERFORMANCE.md measures both).
    #[arg(long, env = "KAFKA_FETCH_WAIT_MAX_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub fetch_wait_max_ms: u32,

    /// Partitions of each topic made by `alerting topics create`: the most instances of a
    /// consumer that share its work. Topics that exist keep their count.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = alerting_handlers::events::topics::PARTITIONS,
          value_parser = clap::value_parser!(i32).range(1..=1_000))]
    pub topic_partitions: i32,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisConfig {
    /// Redis for the rule snapshot (redis://host:6379). Unset: in-process (embedded mode).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prepended to every Redis key and channel.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "alerting")]
    pub redis_key_prefix: String,
}

impl RedisConfig {
    /// No Redis: for services that do not use the snapshot.
    pub fn none() -> Self {
        Self {
            redis_url: None,
            redis_key_prefix: "alerting".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "alert-producer")]
pub struct AlertProducerConfig {
    /// Address the alert-producer listens on.
    #[arg(long, env = "ALERT_PRODUCER_ADDR", default_value = "127.0.0.1:8081")]
    pub alert_producer_addr: SocketAddr,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Matching")]
pub struct MatchingConfig {
    /// How often the rule-updater rebuilds the whole snapshot from SQL.
    #[arg(long, env = "SNAPSHOT_REBUILD_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub snapshot_rebuild_interval: std::time::Duration,

    /// How often evaluators check for a new snapshot (besides announcements).
    #[arg(long, env = "SNAPSHOT_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub snapshot_poll_interval: std::time::Duration,

    /// How long the rule-updater's lease lasts without renewal; a standby takes over
    /// after it.
    #[arg(long, env = "RULE_UPDATER_LEASE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub lease_ttl: std::time::Duration,

    /// How often the outbox relay looks for rule changes to publish.
    #[arg(long, env = "OUTBOX_POLL_INTERVAL", default_value = "200ms", value_parser = parse_duration)]
    pub outbox_poll_interval: std::time::Duration,

    /// Messages a consumer takes per batch.
    #[arg(long, env = "CONSUMER_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub consumer_batch_size: u32,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Authentication")]
pub struct AuthConfig {
    /// The admin token: `Authorization: Bearer <token>` for everything, including
    /// clients and their API keys. At least 32 characters, random (a pattern such as
    /// 32 times the same character is refused). `up` makes one when it is unset (kept
    /// in $DATA_DIR/admin-token); `serve` refuses to start without it.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Alert ingestion requests per second per token or key, per alert-producer
    /// (429 with Retry-After above it); 0 for no limit.
    #[arg(long, env = "INGEST_RATE_LIMIT", default_value_t = 100)]
    pub ingest_rate_limit: u32,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Delivery targets")]
pub struct TargetConfig {
    /// Let webhook and Slack endpoints name loopback, private and link-local addresses
    /// (a laptop, tests). Off, they are refused when saved and when delivered to.
    #[arg(long, env = "ALLOW_PRIVATE_ENDPOINTS", default_value = "false",
          action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_endpoints: bool,
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
    pub cloudwatch_interval: std::time::Duration,

    /// Another CloudWatch endpoint (a VPC endpoint, or a test server).
    #[arg(long, env = "CLOUDWATCH_ENDPOINT_URL")]
    pub cloudwatch_endpoint_url: Option<String>,

    /// The Environment dimension of every metric.
    #[arg(long, env = "ENVIRONMENT", default_value = "local")]
    pub environment: String,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn the_http_defaults_are_the_runners() {
        #[derive(clap::Parser)]
        struct Settings {
            #[command(flatten)]
            http: super::HttpConfig,
        }
        let parsed = <Settings as clap::Parser>::try_parse_from(["test"]).expect("defaults");
        assert_eq!(
            parsed.http.limits(),
            crate::runners::http::ConnectionLimits::default()
        );
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("soon").is_err());
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Delivery")]
pub struct DeliveryConfig {
    /// Timeout of one delivery attempt.
    #[arg(long, env = "DELIVERY_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub delivery_timeout_ms: u64,

    /// Attempts per endpoint before a delivery fails for good (a redrive starts over).
    #[arg(long, env = "DELIVERY_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub delivery_max_attempts: u32,

    /// First retry delay; each retry doubles it (with jitter).
    #[arg(long, env = "DELIVERY_BACKOFF_MS", default_value_t = 500)]
    pub delivery_backoff_ms: u64,

    /// The longest delay between retries, and the longest Retry-After honoured.
    #[arg(long, env = "DELIVERY_MAX_BACKOFF_MS", default_value_t = 60_000)]
    pub delivery_max_backoff_ms: u64,

    /// Deliveries in flight at once, per sender.
    #[arg(long, env = "SENDER_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sender_concurrency: u32,

    /// Deliveries in flight at once to any one address, so that a receiver that hangs
    /// holds only these and never the whole sender.
    #[arg(long, env = "SENDER_CONCURRENCY_PER_ENDPOINT", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sender_concurrency_per_endpoint: u32,

    /// Batches of notifications a sender works on at once (committed in order).
    #[arg(long, env = "SENDER_BATCHES_IN_FLIGHT", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub sender_batches_in_flight: u32,

    /// Failures in a row (timeouts, connection errors, 5xx, 429) after which an
    /// endpoint counts as down: its deliveries are deferred to the next redrive instead
    /// of holding the batch they are in. 0: never.
    #[arg(long, env = "CIRCUIT_BREAKER_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=1_000))]
    pub circuit_breaker_failures: u32,

    /// How long a batch of notifications waits for a slow receiver: once it has waited
    /// this long and a receiver of it has kept an attempt waiting longer, the rest goes
    /// on without it (writing its status when done) and its offsets commit. The most one
    /// receiver that hangs can delay the notifications behind it.
    #[arg(long, env = "SENDER_BATCH_WAIT", default_value = "500ms", value_parser = parse_duration)]
    pub sender_batch_wait: std::time::Duration,

    /// How long an endpoint that is down is left alone before it is tried again.
    #[arg(long, env = "CIRCUIT_BREAKER_COOLDOWN", default_value = "30s", value_parser = parse_duration)]
    pub circuit_breaker_cooldown: std::time::Duration,

    /// SMTP server for email endpoints: smtp://host:25, smtp://host:587?tls=required,
    /// smtps://user:pass@host:465. Unset: email deliveries fail with a clear error.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The From address of notification emails.
    #[arg(
        long,
        env = "EMAIL_FROM",
        default_value = "Alerting <alerting@localhost>"
    )]
    pub email_from: String,

    /// Addresses one notification is delivered to at most (its oldest endpoints; the
    /// rest are recorded as failed, never tried); 0 for no limit.
    #[arg(long, env = "MAX_DELIVERIES_PER_NOTIFICATION", default_value_t = 25)]
    pub max_deliveries_per_notification: u32,

    /// A notification still PENDING this long is announced again (`job redrive`).
    #[arg(long, env = "REDRIVE_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub redrive_after: std::time::Duration,

    /// How often `up` runs the redrive.
    #[arg(long, env = "REDRIVE_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub redrive_interval: std::time::Duration,
}

impl DeliveryConfig {
    pub fn delivery_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.delivery_timeout_ms)
    }

    pub fn circuit_breaker(&self) -> alerting_handlers::jobs::send::CircuitBreaker {
        alerting_handlers::jobs::send::CircuitBreaker {
            failures: self.circuit_breaker_failures,
            cooldown: self.circuit_breaker_cooldown,
        }
    }

    pub fn policy(&self) -> alerting_handlers::jobs::send::DeliveryPolicy {
        alerting_handlers::jobs::send::DeliveryPolicy {
            max_attempts: self.delivery_max_attempts,
            base_backoff: std::time::Duration::from_millis(self.delivery_backoff_ms),
            max_backoff: std::time::Duration::from_millis(self.delivery_max_backoff_ms.max(1)),
            max_retry_after: std::time::Duration::from_millis(self.delivery_max_backoff_ms.max(1)),
            max_deliveries: self.max_deliveries_per_notification as usize,
        }
    }
}
