//! aggregator: turns `alerts.matched` into one notification per (client, alert) and
//! announces each undelivered one on `notifications.ready`, before committing.

use std::sync::Arc;

use alerting_handlers::{events::AlertMatchedEvent, jobs::aggregate::aggregate, ports::Bus};
use async_trait::async_trait;
use sea_orm::DatabaseConnection;

use crate::{
    adapters::{Delivery, Subscription},
    runners::{
        consumer::{self, BatchHandler, Rejected, Retry},
        shutdown::Shutdown,
    },
};

struct Aggregate {
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
}

#[async_trait]
impl BatchHandler for Aggregate {
    async fn handle(&self, batch: &[Delivery]) -> Result<Vec<Rejected>, Retry> {
        let mut matches = Vec::with_capacity(batch.len());
        let mut rejected = Vec::new();
        for (index, delivery) in batch.iter().enumerate() {
            match AlertMatchedEvent::decode(&delivery.payload) {
                Ok(event) => matches.push(event),
                Err(err) => rejected.push(Rejected {
                    index,
                    reason: err.0,
                }),
            }
        }
        let announcements = aggregate(&self.db, &matches)
            .await
            .map_err(|err| Retry(format!("storing notifications: {err}")))?;
        if !announcements.is_empty() {
            self.bus
                .publish(announcements)
                .await
                .map_err(|err| Retry(err.to_string()))?;
        }
        Ok(rejected)
    }
}

pub async fn run(
    subscription: Box<dyn Subscription>,
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    batch_size: usize,
    shutdown: Shutdown,
) {
    let handler = Aggregate {
        db,
        bus: bus.clone(),
    };
    // One batch at a time: two concurrent batches holding the same match would both
    // announce it.
    consumer::run(
        "aggregator",
        subscription,
        bus,
        &handler,
        batch_size,
        1,
        shutdown,
    )
    .await;
}
