//! A consumer in a group: offsets are stored only after a batch is done (at least
//! once), committed in the background and once more on close.

use std::collections::HashMap;

use alerting_handlers::ports::{BusError, IncomingMessage, Subscription};
use async_trait::async_trait;
use futures_util::FutureExt;
use rdkafka::{
    Message,
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::Headers,
};

use super::{Kafka, KafkaSetupError, context::KafkaContext, physical};

/// How often librdkafka reports a consumer's statistics (its lag, for the metrics).
const STATISTICS_INTERVAL_MS: u32 = 5_000;

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
    consumer: StreamConsumer<KafkaContext>,
    prefix: String,
}

impl Kafka {
    /// A consumer of `topic` in the group of `service`, reporting that service's lag.
    pub fn subscribe(
        &self,
        service: &str,
        topic: &str,
    ) -> Result<KafkaSubscription, KafkaSetupError> {
        let config = &self.config;
        let group = format!("{}{service}", config.group_prefix);
        let session = config.session_timeout.as_millis();
        let mut settings = self.client_config();
        settings
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
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
        let consumer: StreamConsumer<KafkaContext> =
            self.create(&settings, self.context(Some(service)))?;
        let physical = physical(config, topic);
        consumer
            .subscribe(&[&physical])
            .map_err(|source| KafkaSetupError::Subscribe {
                topic: physical.clone(),
                source,
            })?;
        Ok(KafkaSubscription {
            consumer,
            prefix: config.topic_prefix.clone(),
        })
    }
}

impl KafkaSubscription {
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
