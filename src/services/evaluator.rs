//! evaluator: matches every alert of `alerts.new` against the rule snapshot and
//! publishes one `alerts.matched` per matching client. A new snapshot is swapped in
//! atomically; matching never waits for it.

use std::{sync::Arc, time::Duration};

use alerting_handlers::{
    events::{AlertEvent, topics},
    jobs::evaluate::evaluate,
    matching::MatchIndex,
    metrics::metrics,
    ports::{Bus, IncomingMessage, SnapshotStore, Subscription},
};
use arc_swap::ArcSwap;
use async_trait::async_trait;

use super::{Context, Need, Needs, Started};
use crate::{
    error::StartError,
    runners::{
        consumer::{self, BatchHandler, Rejected, Retry},
        shutdown::Shutdown,
    },
};

struct Evaluate {
    index: Arc<ArcSwap<MatchIndex>>,
    bus: Arc<dyn Bus>,
}

#[async_trait]
impl BatchHandler for Evaluate {
    async fn handle(&self, batch: &[IncomingMessage]) -> Result<Vec<Rejected>, Retry> {
        let index = self.index.load();
        let mut matched = Vec::new();
        let mut rejected = Vec::new();
        let mut unmatched_alerts: u64 = 0;
        let mut matched_alerts: u64 = 0;
        for (position, message) in batch.iter().enumerate() {
            match AlertEvent::decode(&message.payload) {
                Ok(alert) => {
                    let matches = evaluate(&index, &alert);
                    if matches.is_empty() {
                        unmatched_alerts += 1;
                    } else {
                        matched_alerts += 1;
                    }
                    matched.extend(matches);
                }
                Err(err) => rejected.push(Rejected {
                    index: position,
                    reason: err.0,
                }),
            }
        }
        if !matched.is_empty() {
            self.bus
                .publish(matched)
                .await
                .map_err(|err| Retry(err.to_string()))?;
        }
        // Counted once the batch is through: a retried batch is not counted twice.
        let metrics = metrics();
        metrics.alerts_matched.add(matched_alerts);
        metrics.alerts_unmatched.add(unmatched_alerts);
        Ok(rejected)
    }
}

/// How often the "waiting for a snapshot" line repeats.
const WAITING_LOG_EVERY: Duration = Duration::from_secs(30);

async fn load_index(store: &dyn SnapshotStore) -> Option<MatchIndex> {
    match store.load().await {
        Ok(Some(snapshot)) => match MatchIndex::from_encoded(&snapshot) {
            Ok(index) => Some(index),
            Err(err) => {
                tracing::warn!(error = %err, version = snapshot.version(), "cannot read the rule snapshot");
                None
            }
        },
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(error = %err, "cannot load the rule snapshot");
            None
        }
    }
}

/// Waits for the first snapshot, saying so, instead of failing.
async fn first_index(
    store: &dyn SnapshotStore,
    poll: Duration,
    shutdown: &Shutdown,
) -> Option<MatchIndex> {
    let mut last_log: Option<tokio::time::Instant> = None;
    loop {
        if let Some(index) = load_index(store).await {
            return Some(index);
        }
        if last_log.is_none_or(|at| at.elapsed() >= WAITING_LOG_EVERY) {
            tracing::info!("evaluator: waiting for a rule snapshot (is a rule-updater running?)");
            last_log = Some(tokio::time::Instant::now());
        }
        tokio::select! {
            () = shutdown.clone().wait() => return None,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Keeps the index at the newest snapshot: on announcements, and by polling.
async fn follow_snapshots(
    store: Arc<dyn SnapshotStore>,
    index: Arc<ArcSwap<MatchIndex>>,
    poll: Duration,
    shutdown: Shutdown,
) {
    let mut announcements = store.subscribe().await.ok();
    let mut interval = tokio::time::interval(poll);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let announced = async {
            match announcements.as_mut() {
                Some(receiver) => receiver.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.clone().wait() => return,
            version = announced => {
                if version.is_none() {
                    // The subscription broke (Redis restarted); polling carries on.
                    announcements = store.subscribe().await.ok();
                }
            }
            _ = interval.tick() => {}
        }
        let current = index.load().version();
        match store.version().await {
            Ok(Some(version)) if version > current => {
                if let Some(next) = load_index(store.as_ref()).await
                    && next.version() > current
                {
                    tracing::info!(
                        version = next.version(),
                        rules = next.len(),
                        "evaluator: new rule snapshot"
                    );
                    drop(index.swap(Arc::new(next)));
                    // The old index is gone unless a batch still holds it (then the
                    // next swap returns it).
                    crate::memory::release_freed();
                }
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(error = %err, "snapshot version check failed"),
        }
    }
}

pub const NEEDS: Needs = Needs {
    service: "evaluator",
    database: Need::No,
    kafka: Need::Required,
    redis: Need::Required,
    topics: &[topics::ALERTS_NEW, topics::ALERTS_MATCHED],
    admin_token: false,
};

pub struct EvaluatorSettings {
    pub poll_interval: Duration,
    pub batch_size: usize,
}

pub fn start(cx: Context<'_>) -> Result<Started, StartError> {
    let evaluator = EvaluatorSettings {
        poll_interval: cx.settings.matching.snapshot_poll_interval,
        batch_size: cx.settings.matching.consumer_batch_size as usize,
    };
    let work = run(
        cx.subscription(topics::ALERTS_NEW)?,
        cx.bus()?,
        cx.backends.store.clone(),
        evaluator,
        cx.shutdown.clone(),
    );
    Ok(cx.consumer(work))
}

async fn run(
    subscription: Box<dyn Subscription>,
    bus: Arc<dyn Bus>,
    store: Arc<dyn SnapshotStore>,
    settings: EvaluatorSettings,
    shutdown: Shutdown,
) {
    let Some(first) = first_index(store.as_ref(), settings.poll_interval, &shutdown).await else {
        return;
    };
    tracing::info!(
        version = first.version(),
        rules = first.len(),
        "evaluator: matching with rule snapshot"
    );
    let index = Arc::new(ArcSwap::from_pointee(first));
    let follower = tokio::spawn(follow_snapshots(
        store,
        index.clone(),
        settings.poll_interval,
        shutdown.clone(),
    ));
    let handler = Evaluate {
        index,
        bus: bus.clone(),
    };
    consumer::run(
        "evaluator",
        subscription,
        bus,
        &handler,
        settings.batch_size,
        1,
        shutdown,
    )
    .await;
    follower.abort();
}
