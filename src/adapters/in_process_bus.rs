//! A bus in memory: bounded queues, one per topic and consumer group, so a slow
//! consumer slows its producers instead of growing memory without bound. Nothing
//! survives the process, so embedded mode keeps its bus on disk instead
//! (`durable_bus`); this one serves the tests that run a service without a platform
//! around it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
};

use alerting_handlers::{
    metrics::metrics,
    ports::{Bus, BusError, IncomingMessage, OutgoingMessage, Subscription},
};
use async_trait::async_trait;
use tokio::sync::mpsc;

/// Each topic's consumer groups, with the queue of each.
type Groups = HashMap<String, Vec<(String, mpsc::Sender<IncomingMessage>)>>;

#[derive(Clone)]
pub struct InProcessBus {
    groups: Arc<Mutex<Groups>>,
    capacity: usize,
    next_offset: Arc<AtomicI64>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            groups: Arc::default(),
            capacity: capacity.max(1),
            next_offset: Arc::default(),
        }
    }

    /// The queue of `group` on `topic`. Each group gets every message published after
    /// it subscribed; a group has one consumer in-process.
    pub fn subscribe(&self, topic: &str, group: &str) -> InProcessSubscription {
        let (sender, receiver) = mpsc::channel(self.capacity);
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let subscribers = groups.entry(topic.to_owned()).or_default();
        subscribers.retain(|(name, _)| name != group);
        subscribers.push((group.to_owned(), sender));
        InProcessSubscription {
            receiver,
            group: group.to_owned(),
        }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, messages: Vec<OutgoingMessage>) -> Result<(), BusError> {
        for message in messages {
            let senders: Vec<mpsc::Sender<IncomingMessage>> = {
                let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
                groups
                    .get(&message.topic)
                    .map(|subscribers| subscribers.iter().map(|(_, s)| s.clone()).collect())
                    .unwrap_or_default()
            };
            let message = IncomingMessage {
                topic: message.topic.clone(),
                partition: 0,
                offset: self.next_offset.fetch_add(1, Ordering::Relaxed),
                key: Some(message.key.into_bytes()),
                payload: message.payload,
                headers: message.headers,
            };
            for sender in senders {
                // A consumer that went away (shutdown) no longer needs its copy.
                let _ = sender.send(message.clone()).await;
            }
        }
        Ok(())
    }
}

pub struct InProcessSubscription {
    receiver: mpsc::Receiver<IncomingMessage>,
    group: String,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<IncomingMessage>, BusError> {
        let mut batch = Vec::new();
        match self.receiver.recv().await {
            Some(first) => batch.push(first),
            None => return Err(BusError::Closed),
        }
        while batch.len() < max {
            match self.receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        metrics().set_consumer_lag(&self.group, self.receiver.len() as u64);
        Ok(batch)
    }

    async fn commit(&mut self, _batch: &[IncomingMessage]) -> Result<(), BusError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_group_gets_every_message_in_order() {
        let bus = InProcessBus::new(16);
        let mut a = bus.subscribe("t", "a");
        let mut b = bus.subscribe("t", "b");
        let messages: Vec<_> = (0..5)
            .map(|i| OutgoingMessage::new("t", &i.to_string(), vec![i]))
            .collect();
        bus.publish(messages).await.expect("published");
        for subscription in [&mut a, &mut b] {
            let batch = subscription.next_batch(100).await.expect("batch");
            let payloads: Vec<u8> = batch.iter().map(|d| d.payload[0]).collect();
            assert_eq!(payloads, [0, 1, 2, 3, 4]);
        }
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_publisher_back() {
        let bus = InProcessBus::new(2);
        let mut slow = bus.subscribe("t", "slow");
        let publisher = {
            let bus = bus.clone();
            tokio::spawn(async move {
                let messages = (0..5)
                    .map(|i| OutgoingMessage::new("t", "k", vec![i]))
                    .collect();
                bus.publish(messages).await
            })
        };
        let mut received = Vec::new();
        while received.len() < 5 {
            let batch = slow.next_batch(1).await.expect("batch");
            assert!(batch.len() <= 1);
            received.extend(batch.into_iter().map(|d| d.payload[0]));
        }
        publisher.await.expect("joined").expect("published");
        assert_eq!(received, [0, 1, 2, 3, 4]);
    }
}
