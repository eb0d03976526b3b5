//! Kafka through rdkafka: an idempotent producer that returns once every message is
//! acknowledged, consumers in groups that store an offset only after its batch is done
//! (at least once), and topic administration, over PLAINTEXT, TLS or TLS with SASL
//! (SCRAM, or MSK IAM through OAUTHBEARER).
//!
//! Layout:
//! - `connection`: `Kafka`, the checked way in, which makes every client below.
//! - `context`: what every client carries into librdkafka's callbacks.
//! - `bus`: the producer.
//! - `subscription`: a consumer in a group.
//! - `admin`: topics created and checked.
//! - `msk_iam`: MSK IAM's tokens.

mod admin;
mod bus;
mod connection;
mod context;
pub mod msk_iam;
mod subscription;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub use self::{
    bus::KafkaBus,
    connection::{Kafka, refusal},
    subscription::KafkaSubscription,
};
use crate::config::{KafkaConfig, KafkaSecurityError};

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("KAFKA_BROKERS is not set")]
    NoBrokers,
    #[error(transparent)]
    Security(#[from] KafkaSecurityError),
    #[error("Kafka at {brokers}: {explanation}")]
    Refused {
        brokers: String,
        explanation: String,
    },
    #[error("cannot create a Kafka client for {brokers}: {source}")]
    Client { brokers: String, source: KafkaError },
    #[error("cannot reach Kafka at {brokers}: {source}")]
    Unreachable { brokers: String, source: KafkaError },
    #[error(
        "missing Kafka topics: {}; create them with `alerting topics create`",
        .0.join(", ")
    )]
    MissingTopics(Vec<String>),
    #[error("cannot create topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("cannot subscribe to {topic}: {source}")]
    Subscribe { topic: String, source: KafkaError },
}

fn physical(config: &KafkaConfig, topic: &str) -> String {
    format!("{}{topic}", config.topic_prefix)
}
