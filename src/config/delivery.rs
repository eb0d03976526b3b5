//! How the sender delivers: timeouts, retries, concurrency, the circuit breaker, email,
//! the redrive, and which addresses endpoints may name.

use std::time::Duration;

use clap::Args;

use super::{duration_between, parse_duration};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Delivery")]
pub struct DeliveryConfig {
    /// Timeout of one delivery attempt, connecting included.
    #[arg(long, env = "DELIVERY_TIMEOUT", default_value = "10s",
          value_parser = duration_between(Duration::from_millis(1), Duration::from_secs(600)))]
    pub delivery_timeout: Duration,

    /// Attempts per endpoint before a delivery fails for good (a redrive starts over).
    #[arg(long, env = "DELIVERY_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub delivery_max_attempts: u32,

    /// First retry delay; each retry doubles it (with jitter).
    #[arg(long, env = "DELIVERY_BACKOFF", default_value = "500ms", value_parser = parse_duration)]
    pub delivery_backoff: Duration,

    /// The longest delay between retries, and the longest Retry-After honoured.
    #[arg(long, env = "DELIVERY_MAX_BACKOFF", default_value = "60s", value_parser = parse_duration)]
    pub delivery_max_backoff: Duration,

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
    pub sender_batch_wait: Duration,

    /// How long an endpoint that is down is left alone before it is tried again.
    #[arg(long, env = "CIRCUIT_BREAKER_COOLDOWN", default_value = "30s", value_parser = parse_duration)]
    pub circuit_breaker_cooldown: Duration,

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
    pub redrive_after: Duration,

    /// How often `up` runs the redrive.
    #[arg(long, env = "REDRIVE_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub redrive_interval: Duration,
}

impl DeliveryConfig {
    pub fn circuit_breaker(&self) -> alerting_handlers::jobs::send::CircuitBreaker {
        alerting_handlers::jobs::send::CircuitBreaker {
            failures: self.circuit_breaker_failures,
            cooldown: self.circuit_breaker_cooldown,
        }
    }

    pub fn policy(&self) -> alerting_handlers::jobs::send::DeliveryPolicy {
        alerting_handlers::jobs::send::DeliveryPolicy {
            max_attempts: self.delivery_max_attempts,
            base_backoff: self.delivery_backoff,
            max_backoff: self.delivery_max_backoff,
            max_retry_after: self.delivery_max_backoff,
            max_deliveries: self.max_deliveries_per_notification as usize,
        }
    }
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
