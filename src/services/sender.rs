//! sender: delivers each notification of `notifications.ready` to its endpoints,
//! concurrently (bounded by SENDER_CONCURRENCY), and commits a batch once every
//! notification in it has its final status, is left PENDING for a redrive because a
//! receiver of it is down, or goes on after SENDER_BATCH_WAIT without holding the batch
//! (see `jobs::send`).

use std::{collections::HashSet, sync::Arc};

use alerting_handlers::{
    events::{NotificationReadyEvent, topics},
    jobs::{
        lifecycle,
        redrive::redrive_all_stuck,
        send::{DeliveryLimits, DeliveryPolicy, send_notifications},
        silences::Silencer,
        timings::RuleTimings,
    },
    ports::{Bus, Channel, IncomingMessage},
};
use async_trait::async_trait;
use sea_orm::DatabaseConnection;

use super::{Context, Need, Needs, Started};
use crate::{
    adapters::channels::Channels,
    error::StartError,
    runners::{
        consumer::{BatchHandler, Rejected, Retry},
        shutdown::Shutdown,
    },
};

struct Send {
    db: DatabaseConnection,
    channel: Arc<dyn Channel>,
    policy: DeliveryPolicy,
    /// Slots, receivers' health and the notifications in flight, shared by every batch
    /// and by the deliveries that outlive theirs.
    limits: Arc<DeliveryLimits>,
    /// The silences applied, read at most once a second.
    silencer: Silencer,
}

#[async_trait]
impl BatchHandler for Send {
    async fn handle(&self, batch: &[IncomingMessage]) -> Result<Vec<Rejected>, Retry> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        let mut rejected = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            match NotificationReadyEvent::decode(&message.payload) {
                Ok(event) => {
                    if seen.insert(event.notification_id) {
                        ids.push(event.notification_id);
                    }
                }
                Err(err) => rejected.push(Rejected {
                    index,
                    reason: err.0,
                }),
            }
        }
        send_notifications(
            &self.db,
            &self.channel,
            &self.policy,
            &self.limits,
            &self.silencer,
            &ids,
        )
        .await
        .map_err(|err| Retry(format!("recording deliveries: {err}")))?;
        Ok(rejected)
    }
}

pub const NEEDS: Needs = Needs {
    service: "sender",
    database: Need::Required,
    kafka: Need::Required,
    redis: Need::No,
    topics: &[topics::NOTIFICATIONS_READY],
    admin_token: false,
};

pub fn start(cx: Context<'_>) -> Result<Started, StartError> {
    let delivery = &cx.settings.delivery;
    let allow_private = cx.settings.targets.allow_private_endpoints;
    let handler = Send {
        db: cx.db()?,
        channel: Arc::new(Channels::new(delivery, allow_private)?),
        policy: delivery.policy(),
        limits: Arc::new(
            DeliveryLimits::new(
                delivery.sender_concurrency as usize,
                delivery.sender_concurrency_per_endpoint as usize,
            )
            .with_breaker(delivery.circuit_breaker())
            .with_batch_wait(delivery.sender_batch_wait),
        ),
        silencer: Silencer::default(),
    };
    // Batches delivered at once, so that one slow endpoint does not hold back the
    // notifications behind it (committed in order).
    let in_flight = delivery.sender_batches_in_flight as usize;
    let mut started = cx.consume(topics::NOTIFICATIONS_READY, handler, in_flight)?;
    let timer = lifecycle_periodically(cx.db()?, cx.bus()?, cx.shutdown.clone());
    let mut consuming = started.task;
    // The consumer's end is the service's: a consumer that fails stops it at once. The
    // timer ends only on shutdown, and then the consumer finishes what it has.
    started.task = Box::pin(async move {
        tokio::select! {
            result = &mut consuming => result,
            () = timer => consuming.await,
        }
    });
    Ok(started)
}

/// Every sender's timer for repeats and auto-resolves (`jobs::lifecycle`): once a
/// second, what is due is changed and announced. Several senders are safe: each change
/// is conditional on what was read.
async fn lifecycle_periodically(db: DatabaseConnection, bus: Arc<dyn Bus>, shutdown: Shutdown) {
    let mut interval = tokio::time::interval(lifecycle::EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rules = RuleTimings::default();
    loop {
        tokio::select! {
            () = shutdown.clone().wait() => return,
            _ = interval.tick() => {}
        }
        let timings = match rules.current(&db).await {
            Ok(timings) => timings,
            Err(err) => {
                tracing::warn!(error = %err, "the rules' intervals could not be read; trying again in a second");
                continue;
            }
        };
        let now = chrono::Utc::now();
        let mut announcements = Vec::new();
        for (what, due) in [
            (
                "auto-resolve",
                lifecycle::auto_resolve_due(&db, &timings, now).await,
            ),
            ("repeat", lifecycle::repeat_due(&db, &timings, now).await),
        ] {
            match due {
                Ok(due) => announcements.extend(due),
                Err(err) => tracing::warn!(error = %err, "{what} failed; trying again in a second"),
            }
        }
        if announcements.is_empty() {
            continue;
        }
        // Lost if this fails: the redrive announces what is PENDING again.
        if let Err(err) = bus.publish(announcements).await {
            tracing::warn!(error = %err, "repeats and auto-resolves could not be announced; the redrive will");
        }
    }
}

/// `up`'s timer for `job redrive`.
pub async fn redrive_periodically(
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    after: std::time::Duration,
    every: std::time::Duration,
    shutdown: Shutdown,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.reset();
    loop {
        tokio::select! {
            () = shutdown.clone().wait() => return,
            _ = interval.tick() => {}
        }
        match redrive_all_stuck(&db, bus.as_ref(), after).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "redrive: announced stuck notifications again"),
            Err(err) => tracing::warn!(error = %err, "redrive failed; trying again next time"),
        }
    }
}
