//! The producer: idempotent (no duplicates from its own retries), `acks=all`, and a
//! publish returns once every message is acknowledged.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use alerting_handlers::ports::{Bus, BusError, OutgoingMessage};
use async_trait::async_trait;
use futures_util::future::join_all;
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use super::{Kafka, KafkaSetupError, context::KafkaContext};

/// Publishes to Kafka. Idempotent (no duplicates from the producer's own retries) and
/// `acks=all`; `publish` returns once every message is acknowledged.
#[derive(Clone)]
pub struct KafkaBus {
    producer: Arc<RwLock<Producer>>,
    kafka: Kafka,
    prefix: String,
}

type Producer = FutureProducer<KafkaContext>;

fn idempotent_producer(kafka: &Kafka) -> Result<Producer, KafkaSetupError> {
    let config = &kafka.config;
    let mut settings = kafka.client_config();
    settings
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", config.flow.linger.as_millis().to_string())
        .set(
            "message.timeout.ms",
            config.message_timeout.as_millis().to_string(),
        );
    kafka.create(&settings, kafka.context(None))
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

impl Kafka {
    /// The producer every service publishes with.
    pub fn bus(&self) -> Result<KafkaBus, KafkaSetupError> {
        Ok(KafkaBus {
            producer: Arc::new(RwLock::new(idempotent_producer(self)?)),
            kafka: self.clone(),
            prefix: self.config.topic_prefix.clone(),
        })
    }
}

impl KafkaBus {
    fn current(&self) -> Producer {
        self.producer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// After messages time out (a broker gone longer than KAFKA_MESSAGE_TIMEOUT_MS) the
    /// idempotent producer bumps its epoch, and a broker may answer that it is fenced;
    /// from then on it refuses every message. A new producer (a new producer id)
    /// recovers with the broker.
    fn replace(&self, failed: &Producer, err: &KafkaError) {
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
        match idempotent_producer(&self.kafka) {
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
