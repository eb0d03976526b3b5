//! The HTTP services' settings: where the rule-service and the alert-producer listen,
//! who may call them and how much, and how long they wait for a client.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alerting_handlers::{http::rule_service::Quotas, integrations::sns::SnsHosts};
use clap::Args;

use super::{duration_between, parse_duration};

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
    pub http_header_read_timeout: Duration,

    /// How long a kept-alive connection may stay idle between requests before it is
    /// closed. Keep it above the load balancer's idle timeout (60 s on the ALB).
    #[arg(long, env = "HTTP_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub http_idle_timeout: Duration,
}

/// The documented defaults.
impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            http_header_read_timeout: Duration::from_secs(10),
            // Above the load balancer's 60 s, so that it is always the one to close an
            // idle connection: a target that closes first races its next request (502).
            http_idle_timeout: Duration::from_secs(75),
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "alert-producer")]
pub struct AlertProducerConfig {
    /// Address the alert-producer listens on.
    #[arg(long, env = "ALERT_PRODUCER_ADDR", default_value = "127.0.0.1:8081")]
    pub alert_producer_addr: SocketAddr,

    /// How far behind the pipeline may be, in messages on the bus not yet done by the
    /// service that handles them (alerts not yet matched, matches not yet stored,
    /// notifications not yet sent), before ingestion holds back: a request then waits
    /// up to INGEST_BACKLOG_WAIT for room, and is answered 503 with Retry-After if none
    /// comes. It bounds how long an accepted alert waits (this many messages at the
    /// pipeline's rate). 0 for no limit. Embedded mode (`up` without Kafka) only: there
    /// the bus log counts it; with Kafka the backlog is Kafka's, on disk, and the
    /// consumers' lag is watched instead (alerting_consumer_lag).
    #[arg(long, env = "INGEST_MAX_BACKLOG", default_value_t = 20_000)]
    pub ingest_max_backlog: u64,

    /// How long an ingest request waits for the pipeline to have room (see
    /// INGEST_MAX_BACKLOG) before it is refused; 0 refuses at once. At most 20 s, well
    /// inside the timeouts of the clients that send alerts (`alerting produce`: 30 s).
    #[arg(long, env = "INGEST_BACKLOG_WAIT", default_value = "2s",
          value_parser = duration_between(Duration::ZERO, Duration::from_secs(20)))]
    pub ingest_backlog_wait: Duration,

    #[command(flatten)]
    pub sns: SnsConfig,
}

/// Where the SNS integration may fetch a message's signing certificate and confirm a
/// subscription.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "SNS (CloudWatch alarms)")]
pub struct SnsConfig {
    /// The hosts an SNS message's SigningCertURL and SubscribeURL may name (https://
    /// only): comma-separated, `*` for an AWS region's name. AWS's SNS hosts by default;
    /// LocalStack, or a test, names its own.
    #[arg(long, env = "SNS_HOSTS", default_value = SnsHosts::AWS, value_parser = SnsHosts::parse)]
    pub sns_hosts: SnsHosts,

    /// A PEM file of certificate authorities trusted, besides the system's, when
    /// fetching from SNS_HOSTS.
    #[arg(long, env = "SNS_CA_FILE")]
    pub sns_ca_file: Option<PathBuf>,
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_http_defaults_are_the_documented_ones() {
        #[derive(clap::Parser)]
        struct Settings {
            #[command(flatten)]
            http: super::HttpConfig,
        }
        let parsed = <Settings as clap::Parser>::try_parse_from(["test"]).expect("defaults");
        let default = super::HttpConfig::default();
        assert_eq!(
            (
                parsed.http.http_header_read_timeout,
                parsed.http.http_idle_timeout
            ),
            (default.http_header_read_timeout, default.http_idle_timeout)
        );
    }
}
