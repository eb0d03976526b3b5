//! Implementations of the ports of `alerting-handlers`, and the subscriptions that feed
//! the consumer runner: Kafka and Redis in distributed mode, in-process in embedded mode.

pub mod channels;
pub mod cloudwatch;
pub mod in_process_bus;
pub mod kafka;
pub mod memory_snapshot;
pub mod redis_snapshot;

use alerting_handlers::ports::BusError;
use async_trait::async_trait;

/// A consumed message. `topic` is the logical name (without any prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A consumer's stream of messages. `commit` marks a batch done: its offsets may be
/// committed, and a restarted consumer resumes after them.
#[async_trait]
pub trait Subscription: Send {
    /// Waits for at least one message, then takes whatever else is ready, up to `max`.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Delivery>, BusError>;
    /// Marks every message of the batch done. Call only once their work is durable.
    async fn commit(&mut self, batch: &[Delivery]) -> Result<(), BusError>;
    /// Flushes committed offsets before the consumer goes away.
    async fn close(&mut self) {}
}
