//! sender: delivers each notification of `notifications.ready` to its endpoints,
//! concurrently (bounded by SENDER_CONCURRENCY), and commits a batch once every
//! notification in it has its final status, or is left PENDING for a redrive because an
//! endpoint of it is down.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use alerting_handlers::{
    events::NotificationReadyEvent,
    jobs::send::{CircuitBreaker, DeliveryLimits, DeliveryPolicy, send_notifications},
    ports::{Bus, Channel},
};
use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    adapters::{Delivery, Subscription},
    runners::{
        consumer::{self, BatchHandler, Rejected, Retry},
        shutdown::Shutdown,
    },
};

struct Send {
    db: DatabaseConnection,
    channel: Arc<dyn Channel>,
    policy: DeliveryPolicy,
    limits: DeliveryLimits,
    /// Notifications being sent by this process. Batches run side by side, and the
    /// same notification may be announced twice; the second waits for the first and
    /// then finds its deliveries done.
    in_progress: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl Send {
    /// Sends a batch; a notification another batch of this process is sending is
    /// waited for first (it is then found delivered).
    async fn send_batch(&self, mut ids: Vec<Uuid>) -> Result<(), sea_orm::DbErr> {
        // Locks are taken in one order, so two batches sharing ids cannot deadlock.
        ids.sort_unstable();
        let locks: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter()
                .map(|id| in_progress.entry(*id).or_default().clone())
                .collect()
        };
        let mut guards = Vec::with_capacity(locks.len());
        for lock in &locks {
            guards.push(lock.clone().lock_owned().await);
        }
        let result = send_notifications(
            &self.db,
            self.channel.as_ref(),
            &self.policy,
            &self.limits,
            &ids,
        )
        .await;
        drop(guards);
        let mut in_progress = self.in_progress.lock().unwrap_or_else(|e| e.into_inner());
        for (id, lock) in ids.iter().zip(&locks) {
            // Ours and the map's: nobody else is waiting, so the entry can go.
            if Arc::strong_count(lock) <= 2 {
                in_progress.remove(id);
            }
        }
        result.map(|_| ())
    }
}

#[async_trait]
impl BatchHandler for Send {
    async fn handle(&self, batch: &[Delivery]) -> Result<Vec<Rejected>, Retry> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        let mut rejected = Vec::new();
        for (index, delivery) in batch.iter().enumerate() {
            match NotificationReadyEvent::decode(&delivery.payload) {
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
        self.send_batch(ids)
            .await
            .map_err(|err| Retry(format!("recording deliveries: {err}")))?;
        Ok(rejected)
    }
}

pub struct SenderSettings {
    pub policy: DeliveryPolicy,
    pub concurrency: usize,
    pub concurrency_per_endpoint: usize,
    pub circuit_breaker: CircuitBreaker,
    pub batch_size: usize,
    /// Batches delivered at once, so that one slow endpoint does not hold back the
    /// notifications behind it.
    pub batches_in_flight: usize,
}

pub async fn run(
    subscription: Box<dyn Subscription>,
    db: DatabaseConnection,
    bus: Arc<dyn Bus>,
    channel: Arc<dyn Channel>,
    settings: SenderSettings,
    shutdown: Shutdown,
) {
    let handler = Send {
        db,
        channel,
        policy: settings.policy,
        limits: DeliveryLimits::new(settings.concurrency, settings.concurrency_per_endpoint)
            .with_breaker(settings.circuit_breaker),
        in_progress: Mutex::default(),
    };
    consumer::run(
        "sender",
        subscription,
        bus,
        &handler,
        settings.batch_size,
        settings.batches_in_flight,
        shutdown,
    )
    .await;
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
        match alerting_handlers::jobs::redrive::redrive_stuck(&db, bus.as_ref(), after, 1_000).await
        {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "redrive: announced stuck notifications again"),
            Err(err) => tracing::warn!(error = %err, "redrive failed; trying again next time"),
        }
    }
}
