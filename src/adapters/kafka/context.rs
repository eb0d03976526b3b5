//! What every Kafka client of a process carries into librdkafka's callbacks: the
//! service whose consumer lag its statistics report, the signer of MSK IAM tokens, and
//! a record of the errors librdkafka reports, which the connection check reads to say
//! why the brokers refused (a password, a certificate, a mechanism).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alerting_handlers::metrics::metrics;
use rdkafka::{
    client::{ClientContext, OAuthToken},
    consumer::ConsumerContext,
    error::{KafkaError, RDKafkaErrorCode},
};

use super::msk_iam;

/// The principal name librdkafka gives an OAUTHBEARER token; MSK reads the identity
/// from the signature, not from this.
const PRINCIPAL: &str = "alerting";

/// Errors kept for the connection check: the first of each kind says most.
const KEPT: usize = 16;

/// Errors librdkafka reported, oldest first (at most `KEPT`).
#[derive(Default)]
pub struct Reported(Mutex<Vec<(Option<RDKafkaErrorCode>, String)>>);

impl Reported {
    fn record(&self, code: Option<RDKafkaErrorCode>, reason: &str) {
        let mut reported = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if reported.len() < KEPT {
            reported.push((code, reason.to_owned()));
        }
    }

    pub fn all(&self) -> Vec<(Option<RDKafkaErrorCode>, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Clone, Default)]
pub struct KafkaContext {
    /// The service whose `consumer_lag` this client's statistics set.
    pub(super) lag_of: Option<String>,
    pub(super) signer: Option<Arc<msk_iam::Signer>>,
    pub(super) reported: Arc<Reported>,
    /// The connection check's client: it explains a refusal itself, in one line.
    pub(super) quiet: bool,
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn stats_raw(&self, statistics: &[u8]) {
        let Some(service) = &self.lag_of else {
            return;
        };
        match lag_of(statistics) {
            Some(lag) => metrics().set_consumer_lag(service, lag),
            None => tracing::debug!("unreadable librdkafka statistics"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        self.reported.record(code, reason);
        // A refusal is worth an operator's eye; the rest (a broker restarting, a
        // connection dropped) librdkafka retries, and the consumer loop reports.
        match code {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL) if !self.quiet => {
                tracing::warn!(%error, reason, "Kafka refused the connection");
            }
            _ => tracing::debug!(%error, reason, "Kafka client error"),
        }
    }

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let signer = self
            .signer
            .as_ref()
            .ok_or("OAUTHBEARER is used only with KAFKA_SASL_MECHANISM=AWS_MSK_IAM")?;
        let token = signer.token()?;
        Ok(OAuthToken {
            token: token.value,
            principal_name: PRINCIPAL.to_owned(),
            lifetime_ms: token.expires_at_ms,
        })
    }
}

impl ConsumerContext for KafkaContext {}

/// The few fields of librdkafka's statistics that the lag needs (the rest is ignored,
/// so a broker that leaves some out does not break it).
#[derive(Debug, serde::Deserialize)]
struct Statistics {
    #[serde(default)]
    topics: HashMap<String, TopicStatistics>,
}

#[derive(Debug, serde::Deserialize)]
struct TopicStatistics {
    #[serde(default)]
    partitions: HashMap<String, PartitionStatistics>,
}

#[derive(Debug, serde::Deserialize)]
struct PartitionStatistics {
    /// High watermark minus the offset stored after the work was done; -1 when the
    /// partition is not this consumer's.
    #[serde(default = "unknown_lag")]
    consumer_lag_stored: i64,
}

fn unknown_lag() -> i64 {
    -1
}

/// Messages on this consumer's partitions that are not done yet.
fn lag_of(statistics: &[u8]) -> Option<u64> {
    let statistics: Statistics = serde_json::from_slice(statistics).ok()?;
    Some(
        statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.iter())
            // "-1" is librdkafka's placeholder for messages not yet given a partition.
            .filter(|(partition, _)| partition.as_str() != "-1")
            .map(|(_, p)| u64::try_from(p.consumer_lag_stored).unwrap_or(0))
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_adds_up_the_partitions_this_consumer_owns() {
        let statistics = br#"{
            "name": "alerting#consumer-1", "type": "consumer",
            "topics": {
                "alerts.new": {"topic": "alerts.new", "partitions": {
                    "0": {"partition": 0, "consumer_lag": 12, "consumer_lag_stored": 40},
                    "1": {"partition": 1, "consumer_lag": -1, "consumer_lag_stored": -1},
                    "2": {"partition": 2, "consumer_lag": 0, "consumer_lag_stored": 2},
                    "-1": {"partition": -1, "consumer_lag": -1, "consumer_lag_stored": 7}
                }},
                "alerts.new.dlq": {"topic": "alerts.new.dlq", "partitions": {}}
            }
        }"#;
        assert_eq!(lag_of(statistics), Some(42));
        assert_eq!(lag_of(br#"{"name": "no topics yet"}"#), Some(0));
        assert_eq!(lag_of(b"not json"), None);
    }
}
