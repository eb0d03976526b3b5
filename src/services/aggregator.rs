//! aggregator: turns `alerts.matched` into one notification per (client, alert) and
//! announces each undelivered one on `notifications.ready`, before committing.

use std::sync::Arc;

use alerting_handlers::{
    events::{AlertMatchedEvent, topics},
    jobs::{aggregate::aggregate, timings::RuleTimings},
    ports::{Bus, IncomingMessage},
};
use async_trait::async_trait;
use sea_orm::DatabaseConnection;

use super::{Context, Need, Needs, Started};
use crate::{
    error::StartError,
    runners::consumer::{BatchHandler, Rejected, Retry},
};

struct Aggregate {
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    /// The rules' repeat and auto-resolve intervals, read at most once a second.
    timings: RuleTimings,
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
        let timings = self
            .timings
            .current(&self.db)
            .await
            .map_err(|err| Retry(format!("reading the rules' intervals: {err}")))?;
        let announcements = aggregate(&self.db, &matches, &timings)
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
    let handler = Aggregate {
        db: cx.db()?,
        bus: cx.bus()?,
        timings: RuleTimings::default(),
    };
    // One batch at a time: two concurrent batches holding the same match would both
    // announce it.
    cx.consume(topics::ALERTS_MATCHED, handler, 1)
}
