//! rule-updater: the one writer of the rule snapshot. It holds a lease (a second
//! instance waits as a standby), rebuilds the snapshot from SQL when it takes over and
//! on a timer, applies `rule.changed` as it comes, and relays the outbox to
//! `rule.changed`. Every write carries a higher version, and the store refuses a write
//! from anyone who lost the lease: the snapshot only moves forward.
//!
//! Rule changes keep their round trip: the leader relays the outbox to `rule.changed`
//! and applies them from its subscription, even though, in embedded mode and whenever
//! it leads, it published them itself. The topic is then the one way a change reaches
//! the snapshot, and its committed offsets say which changes are applied: a change
//! relayed by a leader that died before applying it is applied by the next one, from
//! the topic, with nothing else to track. Applying straight from the outbox would need
//! a second record of what is applied and a second path to test, to save one hop that
//! costs well under the relay's poll interval.

use std::{sync::Arc, time::Duration};

use alerting_handlers::{
    events::{RuleChangedEvent, topics},
    jobs::{ROWS_PER_STATEMENT, snapshot::RuleSet},
    metrics::metrics,
    outbox::relay::relay_outbox,
    ports::{Bus, IncomingMessage, SnapshotStore, StoreOutcome, Subscription},
};
use sea_orm::DatabaseConnection;

use super::{Context, Need, Needs, Started};
use crate::{
    error::StartError,
    runners::{consumer::dead_letter, shutdown::Shutdown},
};

pub struct RuleUpdaterSettings {
    pub lease_ttl: Duration,
    pub rebuild_interval: Duration,
    pub outbox_poll_interval: Duration,
    pub batch_size: usize,
}

pub const NEEDS: Needs = Needs {
    service: "rule-updater",
    database: Need::Required,
    kafka: Need::Required,
    redis: Need::Required,
    topics: &[topics::RULE_CHANGED],
    admin_token: false,
};

/// The rule-updater: it subscribes to `rule.changed` only when it takes the lease.
pub fn start(cx: Context<'_>) -> Result<Started, StartError> {
    let matching = &cx.settings.matching;
    let updater = RuleUpdater {
        db: cx.db()?,
        bus: cx.bus()?,
        store: cx.backends.store.clone(),
        settings: RuleUpdaterSettings {
            lease_ttl: matching.lease_ttl,
            rebuild_interval: matching.snapshot_rebuild_interval,
            outbox_poll_interval: matching.outbox_poll_interval,
            batch_size: matching.consumer_batch_size as usize,
        },
        holder: instance_id(),
    };
    let backends = cx.backends.clone();
    let subscribe: SubscribeFn = Box::new(move || {
        backends
            .subscription(NEEDS.service, topics::RULE_CHANGED)
            .map_err(|err| err.to_string())
    });
    Ok(cx.consumer(updater.run(subscribe, cx.shutdown.clone())))
}

/// Opens the `rule.changed` subscription when this instance becomes the writer.
pub type SubscribeFn = Box<dyn FnMut() -> Result<Box<dyn Subscription>, String> + Send>;

pub struct RuleUpdater {
    pub db: DatabaseConnection,
    pub bus: Arc<dyn Bus>,
    pub store: Arc<dyn SnapshotStore>,
    pub settings: RuleUpdaterSettings,
    /// This instance's name in the lease.
    pub holder: String,
}

/// A name for this instance: host, process and a random part.
pub fn instance_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The version after `current`: one more, and never below the wall clock in
/// milliseconds. A Redis that lost its data restarts the count at nothing, and
/// evaluators holding a snapshot from before would refuse the new, lower versions; the
/// clock keeps every version written after the loss above every one written before.
pub fn next_version(current: u64) -> u64 {
    let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
    (current + 1).max(now)
}

enum Leadership {
    Lost,
    ShuttingDown,
}

impl RuleUpdater {
    pub async fn run(self, mut subscribe: SubscribeFn, shutdown: Shutdown) {
        loop {
            if !self.wait_for_lease(&shutdown).await {
                return;
            }
            match self.lead(&mut subscribe, &shutdown).await {
                Leadership::ShuttingDown => {
                    if let Err(err) = self.store.release_lease(&self.holder).await {
                        tracing::warn!(error = %err, "could not release the lease; it expires on its own");
                    }
                    tracing::info!("rule-updater stopped");
                    return;
                }
                Leadership::Lost => {
                    tracing::warn!("rule-updater: lost the lease; back to standby");
                }
            }
        }
    }

    /// Returns false on shutdown.
    async fn wait_for_lease(&self, shutdown: &Shutdown) -> bool {
        let mut said_standby = false;
        loop {
            match self
                .store
                .try_acquire_lease(&self.holder, self.settings.lease_ttl)
                .await
            {
                Ok(true) => {
                    tracing::info!(holder = %self.holder, "rule-updater: acquired the lease; this instance writes the snapshot");
                    return true;
                }
                Ok(false) if !said_standby => {
                    tracing::info!("rule-updater: standby (another instance holds the lease)");
                    said_standby = true;
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "rule-updater: cannot reach the snapshot store")
                }
            }
            tokio::select! {
                () = shutdown.clone().wait() => return false,
                () = tokio::time::sleep(self.settings.lease_ttl / 4) => {}
            }
        }
    }

    /// Leads until the lease is lost or the process stops: one method per thing it
    /// waits for.
    async fn lead(&self, subscribe: &mut SubscribeFn, shutdown: &Shutdown) -> Leadership {
        let Some(rules) = self.load_rules(shutdown).await else {
            return Leadership::ShuttingDown;
        };
        let stored = match self.store.version().await {
            Ok(version) => Stored {
                version: version.unwrap_or(0),
                behind: true,
            },
            Err(err) => {
                tracing::warn!(error = %err, "rule-updater: cannot read the snapshot version");
                return Leadership::Lost;
            }
        };
        let mut leader = Leader { rules, stored };
        if self.write(&leader.rules, &mut leader.stored).await.is_err() {
            return Leadership::Lost;
        }
        let mut subscription = match subscribe() {
            Ok(subscription) => subscription,
            Err(err) => {
                tracing::error!(error = %err, "rule-updater: cannot subscribe to rule.changed");
                return Leadership::Lost;
            }
        };
        let mut renew = tokio::time::interval(self.settings.lease_ttl / 3);
        let mut rebuild = tokio::time::interval(self.settings.rebuild_interval);
        let mut relay = tokio::time::interval(self.settings.outbox_poll_interval);
        for timer in [&mut renew, &mut rebuild, &mut relay] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer.reset();
        }
        let outcome = loop {
            let step = tokio::select! {
                () = shutdown.clone().wait() => break Leadership::ShuttingDown,
                _ = renew.tick() => self.renew(&mut leader).await,
                _ = rebuild.tick() => self.rebuild(&mut leader).await,
                _ = relay.tick() => {
                    self.relay().await;
                    Ok(())
                }
                batch = subscription.next_batch(self.settings.batch_size) => match batch {
                    Ok(batch) => self.apply(&mut leader, subscription.as_mut(), batch).await,
                    Err(err) => {
                        tracing::warn!(error = %err, "rule-updater: receiving rule.changed failed");
                        Ok(())
                    }
                },
            };
            if step.is_err() {
                break Leadership::Lost;
            }
        };
        subscription.close().await;
        outcome
    }

    /// The rules from SQL, retried until they load; None on shutdown.
    async fn load_rules(&self, shutdown: &Shutdown) -> Option<RuleSet> {
        loop {
            match RuleSet::load(&self.db).await {
                Ok(rules) => return Some(rules),
                Err(err) => {
                    tracing::warn!(error = %err, "rule-updater: cannot read rules; retrying");
                    tokio::select! {
                        () = shutdown.clone().wait() => return None,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Keeps the lease; when the store is back while the lease held, writes what it
    /// missed rather than wait for the next change or rebuild.
    async fn renew(&self, leader: &mut Leader) -> Result<(), LeaseLost> {
        match self
            .store
            .renew_lease(&self.holder, self.settings.lease_ttl)
            .await
        {
            Ok(true) if leader.stored.behind => self.write(&leader.rules, &mut leader.stored).await,
            Ok(true) => Ok(()),
            Ok(false) => Err(LeaseLost),
            Err(err) => {
                tracing::warn!(error = %err, "rule-updater: cannot renew the lease");
                Ok(())
            }
        }
    }

    /// The scheduled rebuild from SQL: heals anything a missed change left behind.
    async fn rebuild(&self, leader: &mut Leader) -> Result<(), LeaseLost> {
        match RuleSet::load(&self.db).await {
            Ok(fresh) => {
                leader.rules = fresh;
                self.write(&leader.rules, &mut leader.stored).await
            }
            Err(err) => {
                tracing::warn!(error = %err, "rule-updater: scheduled rebuild failed");
                Ok(())
            }
        }
    }

    /// Publishes what the rule-service recorded in the outbox to `rule.changed`.
    async fn relay(&self) {
        match relay_outbox(&self.db, self.bus.as_ref(), ROWS_PER_STATEMENT as u64).await {
            Ok(0) => {}
            Ok(published) => tracing::debug!(published, "outbox relayed to rule.changed"),
            Err(err) => tracing::warn!(error = %err, "rule-updater: outbox relay failed; retrying"),
        }
    }

    /// Applies a batch of `rule.changed` to the rules and writes the snapshot; commits
    /// only then. A batch that cannot be applied is not committed: it comes again (to
    /// this writer or the next), and the rebuild heals meanwhile.
    async fn apply(
        &self,
        leader: &mut Leader,
        subscription: &mut dyn Subscription,
        batch: Vec<IncomingMessage>,
    ) -> Result<(), LeaseLost> {
        let mut ids = Vec::new();
        let mut letters = Vec::new();
        for message in &batch {
            match RuleChangedEvent::decode(&message.payload) {
                Ok(event) => ids.push(event.rule_id),
                Err(err) => {
                    tracing::warn!(reason = %err, "rule.changed message sent to dead letters");
                    letters.push(dead_letter(message, &err.0));
                }
            }
        }
        let changes = ids.len() as u64;
        if let Err(err) = leader.rules.refresh(&self.db, &ids).await {
            tracing::warn!(error = %err, "rule-updater: cannot apply rule changes");
            return Ok(());
        }
        self.write(&leader.rules, &mut leader.stored).await?;
        let dead_letters = letters.len() as u64;
        if !letters.is_empty()
            && let Err(err) = self.bus.publish(letters).await
        {
            tracing::warn!(error = %err, "rule-updater: dead letters not published");
            return Ok(());
        }
        metrics().rule_changes_applied.add(changes);
        metrics().messages_dead_lettered.add(dead_letters);
        if let Err(err) = subscription.commit(&batch).await {
            tracing::warn!(error = %err, "rule-updater: commit failed");
        }
        Ok(())
    }

    /// Writes the rules as the next version. When the store cannot be reached the
    /// lease is kept and `stored` is left behind, for the next renewal to try again.
    async fn write(&self, rules: &RuleSet, stored: &mut Stored) -> Result<(), LeaseLost> {
        stored.behind = true;
        for _ in 0..3 {
            let next = next_version(stored.version);
            let written = self.store.store(&self.holder, &rules.encode(next)).await;
            // The encoded snapshot and the request that carried it are freed by now.
            crate::memory::release_freed();
            match written {
                Ok(StoreOutcome::Written) => {
                    *stored = Stored {
                        version: next,
                        behind: false,
                    };
                    metrics().snapshots_written.inc();
                    metrics()
                        .snapshot_rules
                        .set(i64::try_from(rules.len()).unwrap_or(i64::MAX));
                    tracing::info!(version = next, rules = rules.len(), "rule snapshot written");
                    return Ok(());
                }
                Ok(StoreOutcome::NotNewer { current }) => stored.version = current,
                Ok(StoreOutcome::NotLeaseHolder) => return Err(LeaseLost),
                Err(err) => {
                    tracing::warn!(error = %err, "rule-updater: cannot write the snapshot");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        Ok(())
    }
}

/// What a leader holds: the rules as of the last change it applied, and what it knows
/// of the snapshot in the store.
struct Leader {
    rules: RuleSet,
    stored: Stored,
}

/// What the writer knows of the snapshot in the store.
struct Stored {
    version: u64,
    /// The rules in memory are newer than the snapshot (a write could not reach the
    /// store).
    behind: bool,
}

/// Another instance holds the lease now.
struct LeaseLost;

/// `alerting job snapshot-rebuild`: one rebuild, if no rule-updater holds the lease
/// (one that does rebuilds on its own schedule). Returns the version written, if any.
pub async fn rebuild_once(
    db: &DatabaseConnection,
    store: &dyn SnapshotStore,
    lease_ttl: Duration,
) -> Result<Option<u64>, String> {
    let holder = instance_id();
    if !store
        .try_acquire_lease(&holder, lease_ttl)
        .await
        .map_err(|err| err.to_string())?
    {
        return Ok(None);
    }
    let result = async {
        let rules = RuleSet::load(db).await.map_err(|err| err.to_string())?;
        let mut version = store
            .version()
            .await
            .map_err(|err| err.to_string())?
            .unwrap_or(0);
        for _ in 0..3 {
            version = next_version(version);
            match store
                .store(&holder, &rules.encode(version))
                .await
                .map_err(|err| err.to_string())?
            {
                StoreOutcome::Written => return Ok(Some(version)),
                StoreOutcome::NotNewer { current } => version = current,
                StoreOutcome::NotLeaseHolder => {
                    return Err("lost the lease while writing".to_owned());
                }
            }
        }
        Err("the snapshot version kept moving; try again".to_owned())
    }
    .await;
    let _ = store.release_lease(&holder).await;
    result
}
