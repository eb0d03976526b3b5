//! The consumer runner: takes batches from a subscription, hands them to a handler,
//! sends what the handler rejects to the topic's dead-letter topic, and only then marks
//! the batch done. A failure of the platform itself (the bus, the database) is retried
//! with backoff and nothing is marked done, so nothing is lost (at least once).

use std::{sync::Arc, time::Duration};

use alerting_handlers::{
    events::topics,
    metrics::metrics,
    ports::{Bus, IncomingMessage, OutgoingMessage, Subscription},
};
use async_trait::async_trait;
use futures_util::{StreamExt, future::BoxFuture, stream::FuturesOrdered};

use crate::runners::shutdown::Shutdown;

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
    async fn handle(&self, batch: &[IncomingMessage]) -> Result<Vec<Rejected>, Retry>;
}

/// The dead letter of a message: its original bytes and key, with the reason and
/// origin in headers.
pub fn dead_letter(message: &IncomingMessage, reason: &str) -> OutgoingMessage {
    let key = message
        .key
        .as_deref()
        .map(|key| String::from_utf8_lossy(key).into_owned())
        .unwrap_or_default();
    let mut letter = OutgoingMessage::new(
        &topics::dead_letters(&message.topic),
        &key,
        message.payload.clone(),
    );
    letter.headers = vec![
        ("dlq-error".to_owned(), reason.to_owned()),
        ("dlq-topic".to_owned(), message.topic.clone()),
        ("dlq-partition".to_owned(), message.partition.to_string()),
        ("dlq-offset".to_owned(), message.offset.to_string()),
    ];
    letter
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Handles one batch, retrying platform failures with backoff, and publishes its dead
/// letters. Returns the batch once it is done, or nothing if shutdown came first (the
/// batch stays uncommitted and is redelivered).
async fn process(
    name: &str,
    batch: Vec<IncomingMessage>,
    bus: &dyn Bus,
    handler: &dyn BatchHandler,
    shutdown: Shutdown,
) -> Option<Vec<IncomingMessage>> {
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
    let mut in_flight: FuturesOrdered<BoxFuture<'_, Option<Vec<IncomingMessage>>>> =
        FuturesOrdered::new();
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

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
    };

    use alerting_handlers::ports::BusError;
    use tokio::sync::{Notify, mpsc, oneshot};

    use super::*;

    /// Hands out the batches the test gives it; records the last offset of each batch
    /// committed.
    struct Scripted {
        batches: mpsc::UnboundedReceiver<Vec<IncomingMessage>>,
        commits: Arc<Mutex<Vec<i64>>>,
    }

    #[async_trait]
    impl Subscription for Scripted {
        async fn next_batch(&mut self, _max: usize) -> Result<Vec<IncomingMessage>, BusError> {
            match self.batches.recv().await {
                Some(batch) => Ok(batch),
                None => std::future::pending().await,
            }
        }

        async fn commit(&mut self, batch: &[IncomingMessage]) -> Result<(), BusError> {
            let last = batch.last().map_or(-1, |d| d.offset);
            self.commits.lock().expect("lock").push(last);
            Ok(())
        }
    }

    struct NoBus;

    #[async_trait]
    impl Bus for NoBus {
        async fn publish(&self, _: Vec<OutgoingMessage>) -> Result<(), BusError> {
            Ok(())
        }
    }

    /// Finishes a batch only when the test opens its gate (keyed by its first offset),
    /// and says when it has.
    #[derive(Default)]
    struct Gated {
        gates: Mutex<HashMap<i64, Arc<Notify>>>,
        finished: Mutex<Option<mpsc::UnboundedSender<i64>>>,
    }

    impl Gated {
        fn gate(&self, first: i64) -> Arc<Notify> {
            self.gates
                .lock()
                .expect("lock")
                .entry(first)
                .or_default()
                .clone()
        }
    }

    #[async_trait]
    impl BatchHandler for Gated {
        async fn handle(&self, batch: &[IncomingMessage]) -> Result<Vec<Rejected>, Retry> {
            let first = batch.first().map_or(-1, |d| d.offset);
            self.gate(first).notified().await;
            if let Some(finished) = self.finished.lock().expect("lock").as_ref() {
                let _ = finished.send(first);
            }
            Ok(Vec::new())
        }
    }

    fn batch(offsets: std::ops::Range<i64>) -> Vec<IncomingMessage> {
        offsets
            .map(|offset| IncomingMessage {
                topic: "alerts.new".to_owned(),
                partition: 0,
                offset,
                key: None,
                payload: Vec::new(),
                headers: Vec::new(),
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_are_committed_once_done_in_the_order_received_and_never_before() {
        let (feed, batches) = mpsc::unbounded_channel();
        let commits = Arc::new(Mutex::new(Vec::new()));
        let subscription = Box::new(Scripted {
            batches,
            commits: commits.clone(),
        });
        let handler = Arc::new(Gated::default());
        let (finished_tx, mut finished) = mpsc::unbounded_channel();
        *handler.finished.lock().expect("lock") = Some(finished_tx);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Shutdown::on(async move {
            let _ = stopped.await;
        });
        let runner = {
            let handler = handler.clone();
            tokio::spawn(async move {
                run(
                    "test",
                    subscription,
                    Arc::new(NoBus),
                    handler.as_ref(),
                    10,
                    2,
                    shutdown,
                )
                .await;
            })
        };

        feed.send(batch(0..3)).expect("fed");
        feed.send(batch(3..6)).expect("fed");
        // The second batch finishes first: it waits for the first before it counts.
        handler.gate(3).notify_one();
        assert_eq!(finished.recv().await, Some(3));
        handler.gate(0).notify_one();
        assert_eq!(finished.recv().await, Some(0));
        feed.send(batch(6..9)).expect("fed");
        // A third batch is taken only once a slot is free, so both are committed by now.
        handler.gate(6).notify_one();
        assert_eq!(finished.recv().await, Some(6));
        feed.send(batch(9..12)).expect("fed");
        tokio::time::timeout(Duration::from_secs(10), async {
            while commits.lock().expect("lock").len() < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the three finished batches are committed");
        // A batch still being worked on when the consumer stops is not committed.
        let _ = stop.send(());
        runner.await.expect("the runner stops");
        assert_eq!(
            *commits.lock().expect("lock"),
            [2, 5, 8],
            "in order, and the unfinished fourth batch not at all"
        );
    }
}
