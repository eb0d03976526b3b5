//! The consumer runner: takes batches from a subscription, hands them to a handler,
//! sends what the handler rejects to the topic's dead-letter topic, and only then marks
//! the batch done. A failure of the platform itself (the bus, the database) is retried
//! with backoff and nothing is marked done, so nothing is lost (at least once).

use std::{sync::Arc, time::Duration};

use alerting_handlers::{
    events::topics,
    metrics::metrics,
    ports::{Bus, OutgoingMessage},
};
use async_trait::async_trait;
use futures_util::{StreamExt, future::BoxFuture, stream::FuturesOrdered};

use crate::{
    adapters::{Delivery, Subscription},
    runners::shutdown::Shutdown,
};

/// A message the handler could not process, and why. It goes to dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// The platform failed (not the message): retry the batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Retry(pub String);

#[async_trait]
pub trait BatchHandler: Send + Sync {
    async fn handle(&self, batch: &[Delivery]) -> Result<Vec<Rejected>, Retry>;
}

/// The dead letter of a message: its original bytes and key, with the reason and
/// origin in headers.
pub fn dead_letter(delivery: &Delivery, reason: &str) -> OutgoingMessage {
    let key = delivery
        .key
        .as_deref()
        .map(|key| String::from_utf8_lossy(key).into_owned())
        .unwrap_or_default();
    let mut message = OutgoingMessage::new(
        &topics::dead_letters(&delivery.topic),
        &key,
        delivery.payload.clone(),
    );
    message.headers = vec![
        ("dlq-error".to_owned(), reason.to_owned()),
        ("dlq-topic".to_owned(), delivery.topic.clone()),
        ("dlq-partition".to_owned(), delivery.partition.to_string()),
        ("dlq-offset".to_owned(), delivery.offset.to_string()),
    ];
    message
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Handles one batch, retrying platform failures with backoff, and publishes its dead
/// letters. Returns the batch once it is done, or nothing if shutdown came first (the
/// batch stays uncommitted and is redelivered).
async fn process(
    name: &str,
    batch: Vec<Delivery>,
    bus: &dyn Bus,
    handler: &dyn BatchHandler,
    shutdown: Shutdown,
) -> Option<Vec<Delivery>> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let outcome = match handler.handle(&batch).await {
            Ok(rejected) if rejected.is_empty() => Ok(()),
            Ok(rejected) => {
                for r in &rejected {
                    tracing::warn!(consumer = name, reason = %r.reason, "message sent to dead letters");
                }
                let letters = rejected
                    .iter()
                    .filter_map(|r| batch.get(r.index).map(|d| dead_letter(d, &r.reason)))
                    .collect();
                bus.publish(letters)
                    .await
                    .map_err(|err| Retry(err.to_string()))
                    .map(|()| {
                        metrics().messages_dead_lettered.add(rejected.len() as u64);
                    })
            }
            Err(err) => Err(err),
        };
        match outcome {
            Ok(()) => return Some(batch),
            Err(Retry(reason)) => {
                tracing::warn!(consumer = name, %reason, retry_in_ms = backoff.as_millis() as u64, "batch failed; retrying");
                tokio::select! {
                    () = shutdown.clone().wait() => return None,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Runs until shutdown. Up to `max_in_flight` batches are processed at once (a slow
/// batch does not hold the next ones back), and they are marked done strictly in the
/// order they were received, so an offset is committed only when its message and every
/// earlier one are done. Returns with the subscription closed (offsets flushed).
pub async fn run(
    name: &str,
    mut subscription: Box<dyn Subscription>,
    bus: Arc<dyn Bus>,
    handler: &dyn BatchHandler,
    max_batch: usize,
    max_in_flight: usize,
    shutdown: Shutdown,
) {
    let mut in_flight: FuturesOrdered<BoxFuture<'_, Option<Vec<Delivery>>>> = FuturesOrdered::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.clone().wait() => break,
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let Some(batch) = done else { break };
                if let Err(err) = subscription.commit(&batch).await {
                    tracing::warn!(consumer = name, error = %err, "commit failed; the batch may be redelivered");
                }
            }
            batch = subscription.next_batch(max_batch), if in_flight.len() < max_in_flight.max(1) => {
                match batch {
                    Ok(batch) => in_flight.push_back(Box::pin(process(name, batch, bus.as_ref(), handler, shutdown.clone()))),
                    Err(err) => {
                        tracing::warn!(consumer = name, error = %err, "receiving failed; retrying");
                        tokio::time::sleep(FIRST_BACKOFF).await;
                    }
                }
            }
        }
    }
    // Batches still in flight are not committed: they are redelivered after a restart.
    drop(in_flight);
    subscription.close().await;
    tracing::info!(consumer = name, "stopped");
}
