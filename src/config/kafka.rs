//! How the services reach Kafka (distributed mode): brokers, how they are reached
//! (`kafka_security`), names, and the few settings that shape how messages flow.

use std::time::Duration;

use clap::Args;

use super::{duration_between, kafka_security::KafkaSecurity};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Kafka")]
pub struct KafkaConfig {
    /// Kafka bootstrap servers (host:port,…). Unset: the in-process bus (embedded mode).
    #[arg(long, env = "KAFKA_BROKERS")]
    pub brokers: Option<String>,

    #[command(flatten)]
    pub security: KafkaSecurity,

    /// Consumer group session timeout; a dead consumer's partitions move after it.
    #[arg(long, env = "KAFKA_SESSION_TIMEOUT", default_value = "10s",
          value_parser = duration_between(Duration::from_secs(1), Duration::from_secs(3600)))]
    pub session_timeout: Duration,

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
    #[arg(long, env = "KAFKA_MESSAGE_TIMEOUT", default_value = "60s",
          value_parser = duration_between(Duration::from_millis(1), Duration::from_secs(3600)))]
    pub message_timeout: Duration,
}

/// The Kafka settings that shape how messages flow: how many consumers can share a
/// topic, how long each fetch may wait and how long the producer gathers a batch.
/// `alerting bench` reports all three with its numbers, which depend on them.
#[derive(Debug, Clone, Copy, Args, serde::Serialize)]
pub struct KafkaFlow {
    /// The longest a consumer's fetch waits for messages. Apache Kafka answers a fetch
    /// as soon as a message arrives; a broker that holds it the whole time (Tansu does)
    /// adds up to this much latency at every hop, and a short wait costs such a broker
    /// CPU (docs/PERFORMANCE.md measures both).
    #[arg(long, env = "KAFKA_FETCH_WAIT_MAX", default_value = "500ms",
          value_parser = duration_between(Duration::from_millis(1), Duration::from_secs(60)))]
    #[serde(rename = "fetch_wait_max_ms", serialize_with = "as_millis")]
    pub fetch_wait_max: Duration,

    /// Partitions of each topic made by `alerting topics create`: the most instances of a
    /// consumer that share its work. Topics that exist keep their count.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = alerting_handlers::events::topics::PARTITIONS,
          value_parser = clap::value_parser!(i32).range(1..=1_000))]
    pub topic_partitions: i32,

    /// How long the producer waits to fill a batch before it sends one. Every publish
    /// here is a batch already and is awaited before the next, so a linger adds its
    /// length to each stage's every batch: 0 gave the lowest latency at 1,000 alerts/s,
    /// and 10ms cost a quarter of the throughput flat out (docs/PERFORMANCE.md).
    #[arg(long, env = "KAFKA_LINGER", default_value = "0ms",
          value_parser = duration_between(Duration::ZERO, Duration::from_secs(5)))]
    #[serde(rename = "linger_ms", serialize_with = "as_millis")]
    pub linger: Duration,
}

/// The report of `alerting bench` keeps the unit it always had.
fn as_millis<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(value.as_millis())
}
