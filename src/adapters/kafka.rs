//! Kafka through rdkafka: an idempotent producer that returns once every message is
//! acknowledged, consumers in groups that store an offset only after its batch is done
//! (at least once), and topic administration.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use alerting_handlers::{
    events::topics,
    metrics::metrics,
    ports::{Bus, BusError, IncomingMessage, OutgoingMessage, Subscription},
};
use async_trait::async_trait;
use futures_util::{FutureExt, future::join_all};
use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::{ClientContext, DefaultClientContext},
    consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use crate::config::KafkaConfig;

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("KAFKA_BROKERS is not set")]
    NoBrokers,
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

fn base_config(config: &KafkaConfig) -> Result<ClientConfig, KafkaSetupError> {
    let brokers = config.brokers.clone().ok_or(KafkaSetupError::NoBrokers)?;
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &brokers)
        .set("client.id", "alerting")
        .set("socket.keepalive.enable", "true");
    Ok(client)
}

/// Any rdkafka client (producer, consumer, admin) on the configured brokers.
fn client<C: rdkafka::config::FromClientConfig>(
    config: &KafkaConfig,
) -> Result<C, KafkaSetupError> {
    base_config(config)?
        .create()
        .map_err(|source| KafkaSetupError::Client {
            brokers: config.brokers.clone().unwrap_or_default(),
            source,
        })
}

fn physical(config: &KafkaConfig, topic: &str) -> String {
    format!("{}{topic}", config.topic_prefix)
}

/// Publishes to Kafka. Idempotent (no duplicates from the producer's own retries) and
/// `acks=all`; `publish` returns once every message is acknowledged.
#[derive(Clone)]
pub struct KafkaBus {
    producer: Arc<RwLock<FutureProducer>>,
    config: KafkaConfig,
    prefix: String,
}

fn idempotent_producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaSetupError> {
    base_config(config)?
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", config.flow.linger.as_millis().to_string())
        .set(
            "message.timeout.ms",
            config.message_timeout.as_millis().to_string(),
        )
        .create()
        .map_err(|source| KafkaSetupError::Client {
            brokers: config.brokers.clone().unwrap_or_default(),
            source,
        })
}

/// Errors after which an idempotent producer refuses every later message.
fn leaves_producer_unusable(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::Fatal
        )
    )
}

impl KafkaBus {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaSetupError> {
        Ok(Self {
            producer: Arc::new(RwLock::new(idempotent_producer(config)?)),
            config: config.clone(),
            prefix: config.topic_prefix.clone(),
        })
    }

    fn current(&self) -> FutureProducer {
        self.producer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// After messages time out (a broker gone longer than KAFKA_MESSAGE_TIMEOUT_MS) the
    /// idempotent producer bumps its epoch, and a broker may answer that it is fenced;
    /// from then on it refuses every message. A new producer (a new producer id)
    /// recovers with the broker.
    fn replace(&self, failed: &FutureProducer, err: &KafkaError) {
        use rdkafka::producer::Producer;
        if !leaves_producer_unusable(err) && failed.client().fatal_error().is_none() {
            return;
        }
        let mut current = self.producer.write().unwrap_or_else(|e| e.into_inner());
        // Another publish may have replaced it already.
        if !std::ptr::eq(current.client().native_ptr(), failed.client().native_ptr()) {
            return;
        }
        tracing::warn!(error = %err, "the Kafka producer cannot continue; replacing it");
        match idempotent_producer(&self.config) {
            Ok(fresh) => *current = fresh,
            Err(err) => tracing::error!(error = %err, "cannot replace the Kafka producer"),
        }
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn publish(&self, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        let topics: Vec<String> = messages
            .iter()
            .map(|m| format!("{}{}", self.prefix, m.topic))
            .collect();
        let producer = self.current();
        let sends = messages.iter().zip(&topics).map(|(message, topic)| {
            let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
            for (key, value) in &message.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
            let record = FutureRecord::to(topic)
                .key(message.key.as_bytes())
                .payload(&message.payload)
                .headers(headers);
            producer.send(record, Duration::from_secs(5))
        });
        for (result, message) in join_all(sends).await.into_iter().zip(&messages) {
            if let Err((err, _)) = result {
                self.replace(&producer, &err);
                return Err(BusError::Publish {
                    topic: message.topic.clone(),
                    reason: err.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// How often librdkafka reports a consumer's statistics (its lag, for the metrics).
const STATISTICS_INTERVAL_MS: u32 = 5_000;

/// A consumer's librdkafka context: turns its periodic statistics into the
/// `consumer_lag` metric of its service.
pub struct LagReporter {
    service: String,
}

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

impl ClientContext for LagReporter {
    fn stats_raw(&self, statistics: &[u8]) {
        match lag_of(statistics) {
            Some(lag) => metrics().set_consumer_lag(&self.service, lag),
            None => tracing::debug!("unreadable librdkafka statistics"),
        }
    }
}

impl ConsumerContext for LagReporter {}

/// Messages a consumer of `service` fetches ahead, per partition (librdkafka's
/// `queued.min.messages`). librdkafka's 100,000 let small messages (a
/// `notifications.ready` is 60 bytes) pile up by the hundred thousand, each with ~150
/// bytes of bookkeeping that the kilobyte cap does not count; 2,000 starved the
/// evaluator and aggregator on a backlog, 10,000 did not. The sender holds at most two
/// batches of 500 at once, each an HTTP delivery per message: 1,000 per partition (nine
/// batches ahead) kept its throughput and cut its peak (docs/PERFORMANCE.md).
fn prefetch_per_partition(service: &str) -> u32 {
    match service {
        "sender" => 1_000,
        _ => 10_000,
    }
}

/// A consumer in group `{KAFKA_CONSUMER_GROUP_PREFIX}{service}`.
pub struct KafkaSubscription {
    consumer: StreamConsumer<LagReporter>,
    prefix: String,
}

impl KafkaSubscription {
    pub fn new(config: &KafkaConfig, service: &str, topic: &str) -> Result<Self, KafkaSetupError> {
        let group = format!("{}{service}", config.group_prefix);
        let session = config.session_timeout.as_millis();
        let consumer: StreamConsumer<LagReporter> = base_config(config)?
            .set("group.id", &group)
            .set("enable.auto.commit", "true")
            // Offsets are stored by `commit` only, after the work is done.
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "500")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", session.to_string())
            .set(
                "fetch.wait.max.ms",
                config.flow.fetch_wait_max.as_millis().to_string(),
            )
            // Also caps one fetch's size (librdkafka lowers `fetch.max.bytes` to it).
            .set(
                "queued.max.messages.kbytes",
                config.consumer_queue_kb.to_string(),
            )
            .set(
                "queued.min.messages",
                prefetch_per_partition(service).to_string(),
            )
            .set("heartbeat.interval.ms", (session / 3).max(100).to_string())
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string())
            .create_with_context(LagReporter {
                service: service.to_owned(),
            })
            .map_err(|source| KafkaSetupError::Client {
                brokers: config.brokers.clone().unwrap_or_default(),
                source,
            })?;
        let physical = physical(config, topic);
        consumer
            .subscribe(&[&physical])
            .map_err(|source| KafkaSetupError::Subscribe {
                topic: physical.clone(),
                source,
            })?;
        Ok(Self {
            consumer,
            prefix: config.topic_prefix.clone(),
        })
    }

    fn incoming(&self, message: &rdkafka::message::BorrowedMessage<'_>) -> IncomingMessage {
        let topic = message.topic();
        IncomingMessage {
            topic: topic.strip_prefix(&self.prefix).unwrap_or(topic).to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| {
                            let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                            (h.key.to_owned(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<IncomingMessage>, BusError> {
        let first = self
            .consumer
            .recv()
            .await
            .map_err(|err| BusError::Consume(err.to_string()))?;
        let mut batch = vec![self.incoming(&first)];
        drop(first);
        while batch.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(self.incoming(&message)),
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "kafka consumer error");
                    break;
                }
                None => break,
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, batch: &[IncomingMessage]) -> Result<(), BusError> {
        // The batch was processed as a whole, so the highest offset of each partition
        // covers every earlier one of that partition.
        let mut highest: HashMap<(&str, i32), i64> = HashMap::new();
        for message in batch {
            let entry = highest
                .entry((message.topic.as_str(), message.partition))
                .or_insert(message.offset);
            *entry = (*entry).max(message.offset);
        }
        for ((topic, partition), offset) in highest {
            let physical = format!("{}{topic}", self.prefix);
            if let Err(err) = self.consumer.store_offset(&physical, partition, offset) {
                // The partition moved to another consumer meanwhile; it redelivers.
                tracing::warn!(error = %err, topic, partition, "offset not stored");
            }
        }
        Ok(())
    }

    async fn close(&mut self) {
        if let Err(err) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %err, "final offset commit skipped");
        }
        self.consumer.unsubscribe();
    }
}

/// Creates every topic (and its dead-letter topic) with the configured partitions; topics that exist
/// already are left as they are. Returns the topics created.
pub async fn create_topics(config: &KafkaConfig) -> Result<Vec<String>, KafkaSetupError> {
    let brokers = config.brokers.clone().unwrap_or_default();
    let admin: AdminClient<DefaultClientContext> = client(config)?;
    let names: Vec<String> = topics::all_with_dead_letters()
        .iter()
        .map(|topic| physical(config, topic))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.flow.topic_partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| KafkaSetupError::Unreachable { brokers, source })?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(topic) => created.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaSetupError::CreateTopic { topic, code }),
        }
    }
    Ok(created)
}

/// Fails with the list of missing topics unless every one of `needed` exists.
pub async fn require_topics(
    config: &KafkaConfig,
    needed: &[String],
) -> Result<(), KafkaSetupError> {
    let brokers = config.brokers.clone().unwrap_or_default();
    let consumer: rdkafka::consumer::BaseConsumer = client(config)?;
    let metadata =
        tokio::task::spawn_blocking(move || consumer.fetch_metadata(None, Duration::from_secs(10)))
            .await
            .map_err(|_| KafkaSetupError::Unreachable {
                brokers: brokers.clone(),
                source: KafkaError::Canceled,
            })
            .and_then(|result| {
                result.map_err(|source| KafkaSetupError::Unreachable {
                    brokers: brokers.clone(),
                    source,
                })
            })?;
    let existing: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    let missing: Vec<String> = needed
        .iter()
        .map(|topic| physical(config, topic))
        .filter(|topic| !existing.contains(&topic.as_str()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KafkaSetupError::MissingTopics(missing))
    }
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
