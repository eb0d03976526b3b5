//! The settings tree: one struct per concern, each read from the environment (the ECS
//! task definition sets it) or a flag, with a default that makes `alerting up` work with
//! nothing set. Each setting is described once, on its clap definition here; the
//! reference in docs/CONFIGURATION.md is generated from those definitions
//! (`reference`), and a test fails when the two differ.
//!
//! Layout:
//! - `storage`: the SQL database and Redis.
//! - `kafka`: brokers, names, and how messages flow.
//! - `kafka_security`: TLS and SASL to the brokers.
//! - `http`: the rule-service and alert-producer: addresses, tokens, quotas, timeouts.
//! - `matching`: the rule snapshot and consumer batches.
//! - `delivery`: the sender: timeouts, retries, concurrency, email, redrive, targets.
//! - `observability`: logs and metrics.
//! - `secret`: a value never printed.
//! - `deprecated`: old setting names that still work, with a warning.
//! - `reference`: renders the configuration reference from the definitions.

mod delivery;
pub mod deprecated;
mod http;
mod kafka;
mod kafka_security;
mod matching;
mod observability;
pub mod reference;
mod secret;
mod storage;

use std::time::Duration;

use clap::Args;

pub use self::{
    delivery::{DeliveryConfig, TargetConfig},
    http::{
        AlertProducerConfig, AuthConfig, HttpConfig, QuotaConfig, RuleServiceConfig, SnsConfig,
    },
    kafka::{KafkaConfig, KafkaFlow},
    kafka_security::{KafkaSecurity, KafkaSecurityError, SaslMechanism, SecurityProtocol},
    matching::MatchingConfig,
    observability::{LogConfig, LogFormat, MetricsConfig},
    secret::{Secret, redacted_url},
    storage::{DatabaseConfig, RedisConfig},
};

/// Every setting of the services, as `up`, `serve`, `run` and `job` read them. A
/// service reads the parts it uses and ignores the rest.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub rule_service: RuleServiceConfig,
    #[command(flatten)]
    pub alert_producer: AlertProducerConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub matching: MatchingConfig,
    #[command(flatten)]
    pub delivery: DeliveryConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub targets: TargetConfig,
    #[command(flatten)]
    pub http: HttpConfig,
    #[command(flatten)]
    pub metrics: MetricsConfig,
}

/// Parses `500ms`, `2s`, `5m`, `1h`, or a bare number of seconds, above zero.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    match parse_length(value)? {
        Duration::ZERO => Err(format!("{:?} must be above zero", value.trim())),
        duration => Ok(duration),
    }
}

/// A duration of zero or more.
fn parse_length(value: &str) -> Result<Duration, String> {
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
    if !(0.0..1e9).contains(&seconds) {
        return Err(format!("{value:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A duration parser that also refuses what is outside `min..=max` (zero only where
/// `min` is zero).
pub fn duration_between(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |value| {
        let duration = parse_length(value)?;
        if duration < min || duration > max {
            return Err(format!(
                "{value:?} is outside {} to {}",
                describe(min),
                describe(max)
            ));
        }
        Ok(duration)
    }
}

/// `500ms`, `10s`: how the reference and the errors write a duration.
pub fn describe(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 || !millis.is_multiple_of(1000) {
        format!("{millis}ms")
    } else if millis.is_multiple_of(3_600_000) {
        format!("{}h", millis / 3_600_000)
    } else if millis.is_multiple_of(60_000) {
        format!("{}m", millis / 60_000)
    } else {
        format!("{}s", millis / 1000)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{describe, duration_between, parse_duration};

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

    #[test]
    fn bounded_durations_name_their_bounds() {
        let parse = duration_between(Duration::from_millis(1), Duration::from_secs(60));
        assert_eq!(parse("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("2m"), Err("\"2m\" is outside 1ms to 1m".to_owned()));
        assert_eq!(describe(Duration::from_millis(1500)), "1500ms");
        assert_eq!(describe(Duration::from_secs(7200)), "2h");
        assert_eq!(parse("0s"), Err("\"0s\" is outside 1ms to 1m".to_owned()));
        let from_zero = duration_between(Duration::ZERO, Duration::from_secs(5));
        assert_eq!(from_zero("0ms"), Ok(Duration::ZERO));
        assert_eq!(describe(Duration::ZERO), "0ms");
    }
}
