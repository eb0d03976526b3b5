//! The few traits with two real implementations each: the message bus, publishing and
//! consuming (Kafka or in-process), the rule snapshot store (Redis or in-process), delivery channels, and
//! the metrics sink (CloudWatch; Prometheus is pulled from `/metrics` instead).

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::{metrics::Reading, snapshot_format::EncodedSnapshot};

/// A message to publish. `topic` is the logical name; adapters may prefix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl OutgoingMessage {
    pub fn new(topic: &str, key: &str, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload,
            headers: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("publishing to {topic} failed: {reason}")]
    Publish { topic: String, reason: String },
    #[error("consuming failed: {0}")]
    Consume(String),
    #[error("the bus is shut down")]
    Closed,
}

/// Publishes messages; returns only once the bus has acknowledged every one of them.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, messages: Vec<OutgoingMessage>) -> Result<(), BusError>;
}

/// A consumed message. `topic` is the logical name (without any prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl IncomingMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The consuming side of the bus: one consumer group's stream of messages of a topic.
/// `commit` marks a batch done: its offsets may be committed, and a restarted consumer
/// resumes after them.
#[async_trait]
pub trait Subscription: Send {
    /// Waits for at least one message, then takes whatever else is ready, up to `max`.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<IncomingMessage>, BusError>;
    /// Marks every message of the batch done. Call only once their work is durable.
    async fn commit(&mut self, batch: &[IncomingMessage]) -> Result<(), BusError>;
    /// Flushes committed offsets before the consumer goes away.
    async fn close(&mut self) {}
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot store unavailable: {0}")]
    Unavailable(String),
    #[error("stored snapshot is unreadable: {0}")]
    Corrupt(String),
}

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Written,
    /// The store already holds this version or a newer one: snapshots only move forward.
    NotNewer {
        current: u64,
    },
    /// Another instance holds the writer's lease (this one lost it).
    NotLeaseHolder,
}

/// Where the rule snapshot lives. One writer at a time holds the lease, and a write by
/// anyone else is refused (fencing), so a paused-then-resumed old writer cannot go back.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    async fn load(&self) -> Result<Option<EncodedSnapshot>, SnapshotError>;
    async fn version(&self) -> Result<Option<u64>, SnapshotError>;
    /// Writes the snapshot atomically if `holder` holds the lease and it is newer, and
    /// announces the new version to subscribers.
    async fn store(
        &self,
        holder: &str,
        snapshot: &EncodedSnapshot,
    ) -> Result<StoreOutcome, SnapshotError>;
    async fn try_acquire_lease(&self, holder: &str, ttl: Duration) -> Result<bool, SnapshotError>;
    /// Extends the lease; false when `holder` no longer holds it.
    async fn renew_lease(&self, holder: &str, ttl: Duration) -> Result<bool, SnapshotError>;
    async fn release_lease(&self, holder: &str) -> Result<(), SnapshotError>;
    /// Announced versions, as they are written. Best effort: readers also poll.
    async fn subscribe(&self) -> Result<mpsc::Receiver<u64>, SnapshotError>;
}

/// What a delivery is about: the notification as its receivers see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotificationPayload {
    pub notification_id: uuid::Uuid,
    pub client_id: String,
    /// Whether the alert came from the shared feed rather than from the client itself.
    pub shared: bool,
    pub alert: crate::events::AlertBody,
    pub rule_ids: Vec<uuid::Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Set when this delivery is the notification's resolution rather than the
    /// notification itself.
    pub resolution: Option<Resolution>,
    /// Set when this delivery repeats the notification (its rule's `repeat_interval`):
    /// which repeat, from 1.
    pub repeat: Option<i32>,
}

/// A notification's end, as its resolution delivery tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolution {
    pub resolved_at: chrono::DateTime<chrono::Utc>,
    /// From its first alert to its resolution.
    pub lasted: std::time::Duration,
}

impl Resolution {
    /// How long it lasted, as people say it: "2h 5m", "4m 10s", "12s".
    pub fn lasted_text(&self) -> String {
        let total = self.lasted.as_secs();
        let (days, hours, minutes, seconds) = (
            total / 86_400,
            total / 3_600 % 24,
            total / 60 % 60,
            total % 60,
        );
        match (days, hours, minutes) {
            (0, 0, 0) => format!("{seconds}s"),
            (0, 0, _) => format!("{minutes}m {seconds}s"),
            (0, _, _) => format!("{hours}h {minutes}m"),
            _ => format!("{days}d {hours}h"),
        }
    }
}

/// Where to deliver, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint_id: uuid::Uuid,
    pub kind: crate::domain::EndpointKind,
    pub value: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("endpoint_id", &self.endpoint_id)
            .field("kind", &self.kind)
            .field("value", &self.value)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        http_status: Option<u16>,
    },
    /// Worth trying again: a timeout, a connection error, a 5xx, a 429.
    Retryable {
        error: String,
        http_status: Option<u16>,
        retry_after: Option<Duration>,
    },
    /// Trying again would not help: another 4xx, a refused address.
    Permanent {
        error: String,
        http_status: Option<u16>,
    },
}

/// A delivery channel (webhook, Slack, email). One call is one attempt; retries are
/// the sender's business.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    async fn deliver(
        &self,
        notification: &NotificationPayload,
        target: &Target,
        idempotency_key: &str,
    ) -> Attempt;
}

#[derive(Debug, thiserror::Error)]
#[error("sending metrics failed: {0}")]
pub struct MetricsError(pub String);

/// Where metrics are pushed, once per interval. A sink keeps what it needs of the last
/// reading it sent (a push service wants what happened since, not totals).
#[async_trait]
pub trait MetricsSink: Send + Sync + 'static {
    async fn send(&self, reading: &Reading) -> Result<(), MetricsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolution_says_how_long_it_lasted_in_two_units() {
        let lasted = |secs: u64| {
            Resolution {
                resolved_at: chrono::Utc::now(),
                lasted: Duration::from_secs(secs),
            }
            .lasted_text()
        };
        assert_eq!(lasted(12), "12s");
        assert_eq!(lasted(250), "4m 10s");
        assert_eq!(lasted(2 * 3_600 + 5 * 60 + 7), "2h 5m");
        assert_eq!(lasted(3 * 86_400 + 3_600), "3d 1h");
    }
}
