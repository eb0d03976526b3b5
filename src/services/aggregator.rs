//! aggregator: turns `alerts.matched` into one notification per (client, alert) and
//! announces each undelivered one on `notifications.ready`, before committing.

use std::sync::Arc;

use alerting_handlers::{
    events::{AlertMatchedEvent, topics},
    jobs::aggregate::aggregate,
    ports::{Bus, IncomingMessage, Subscription},
};
use async_trait::async_trait;
use sea_orm::DatabaseConnection;

use super::{Backends, Need, Needs, Started};
use crate::{
    config::Settings,
    error::StartError,
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
    async fn handle(&self, batch: &[IncomingMessage]) -> Result<Vec<Rejected>, Retry> {
        let mut matches = Vec::with_capacity(batch.len());
        let mut rejected = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            match AlertMatchedEvent::decode(&message.payload) {
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

pub const NEEDS: Needs = Needs {
    service: "aggregator",
    database: Need::Required,
    kafka: Need::Required,
    redis: Need::No,
    topics: &[topics::ALERTS_MATCHED, topics::NOTIFICATIONS_READY],
    admin_token: false,
};

pub fn start(
    settings: &Settings,
    backends: &Backends,
    shutdown: Shutdown,
) -> Result<Started, StartError> {
    let subscription = backends.subscription(NEEDS.service, topics::ALERTS_MATCHED)?;
    let db = backends.db(NEEDS.service)?;
    let bus = backends.bus(NEEDS.service)?;
    let batch_size = settings.matching.consumer_batch_size as usize;
    Ok(Started::consumer(
        NEEDS.service,
        backends,
        run(subscription, db, bus, batch_size, shutdown),
    ))
}

async fn run(
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
