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

use super::{Context, Need, Needs, Started};
use crate::{
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

pub fn start(cx: Context<'_>) -> Result<Started, StartError> {
    let batch_size = cx.settings.matching.consumer_batch_size as usize;
    let work = run(
        cx.subscription(topics::ALERTS_MATCHED)?,
        cx.db()?,
        cx.bus()?,
        batch_size,
        cx.shutdown.clone(),
    );
    Ok(cx.consumer(work))
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
