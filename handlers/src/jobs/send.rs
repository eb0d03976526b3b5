//! The sender's handler: delivers one notification to the enabled endpoints of its
//! rules (the same address once, however many rules name it), skipping endpoints that
//! already have a successful delivery, retrying what can be retried, recording every
//! attempt, and setting the notification's final status.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use alerting_entities::{deliveries, endpoints, notifications};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, future::join_all, stream::FuturesUnordered};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::index_lookups::{all_with_keys, prefer_index_lookups};
use crate::{
    domain::{EndpointKind, NotificationStatus},
    events::AlertBody,
    metrics::metrics,
    ports::{Attempt, Channel, NotificationPayload, Target},
};

pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";
/// Why a delivery waits, RETRYING, for a redrive.
const DEFERRED: &str = "deferred: the endpoint keeps failing; the next redrive tries again";

/// How hard the sender tries.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts per endpoint in one round (a redrive starts another round).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Addresses one notification is delivered to at most
    /// (MAX_DELIVERIES_PER_NOTIFICATION; 0: no limit): the oldest endpoints first, the
    /// rest recorded as failed, never tried. Without it one alert matching many rules
    /// could send thousands of requests.
    pub max_deliveries: usize,
}

impl DeliveryPolicy {
    /// Exponential backoff with ±25 % jitter, or the receiver's `Retry-After`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(retry_after) = retry_after {
            return retry_after.min(self.max_retry_after);
        }
        let exponential = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let spread = exponential.as_millis() as u64 / 2;
        let jitter = if spread == 0 {
            0
        } else {
            (Uuid::new_v4().as_u128() % u128::from(spread)) as u64
        };
        (exponential - exponential / 4) + Duration::from_millis(jitter)
    }
}

/// When an endpoint counts as down: after `failures` attempts in a row that failed in a
/// way worth retrying (timeouts, connection errors, 5xx, 429), its deliveries are not
/// waited for during `cooldown`. They are deferred instead: recorded, left PENDING, and
/// tried again by the next redrive. Waiting would hold the batch, and every notification
/// behind it, for as long as the endpoint hangs.
#[derive(Debug, Clone, Copy)]
pub struct CircuitBreaker {
    /// 0: never defer.
    pub failures: u32,
    pub cooldown: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            failures: 10,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// What the sender knows of one endpoint address: its slots, and whether it is down.
struct TargetState {
    address: String,
    slots: Arc<Semaphore>,
    breaker: CircuitBreaker,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    failures_in_a_row: u32,
    down_until: Option<tokio::time::Instant>,
}

impl TargetState {
    fn is_down(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health
            .down_until
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// Counts an attempt's outcome. Once the endpoint is down, one more failure after
    /// the cooldown puts it down again at once.
    fn observe(&self, outcome: &Attempt) {
        let breaker = self.breaker;
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Attempt::Retryable { error, .. } => {
                health.failures_in_a_row = health.failures_in_a_row.saturating_add(1);
                let now = tokio::time::Instant::now();
                let down = health.down_until.is_some_and(|until| now < until);
                if breaker.failures > 0 && health.failures_in_a_row >= breaker.failures && !down {
                    health.down_until = Some(now + breaker.cooldown);
                    metrics().endpoints_marked_down.inc();
                    tracing::warn!(target = %self.address, failures_in_a_row = health.failures_in_a_row, cooldown_ms = breaker.cooldown.as_millis() as u64, %error, "endpoint failing: its deliveries are deferred to the next redrive");
                }
            }
            // It answered: whatever it said, it is up.
            Attempt::Delivered { .. } | Attempt::Permanent { .. } => {
                *health = Health::default();
            }
        }
    }
}

/// How many attempts may be in flight: in all, and per endpoint address. The second
/// bound keeps one hanging receiver from taking every slot; the circuit breaker keeps
/// it from holding batches.
pub struct DeliveryLimits {
    global: Arc<Semaphore>,
    per_target: usize,
    breaker: CircuitBreaker,
    targets: Mutex<HashMap<String, Arc<TargetState>>>,
}

impl DeliveryLimits {
    pub fn new(global: usize, per_target: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_target: per_target.max(1),
            breaker: CircuitBreaker::default(),
            targets: Mutex::default(),
        }
    }

    pub fn with_breaker(self, breaker: CircuitBreaker) -> Self {
        Self { breaker, ..self }
    }

    fn target(&self, target: &str) -> Arc<TargetState> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target.to_owned())
            .or_insert_with(|| {
                Arc::new(TargetState {
                    address: target.to_owned(),
                    slots: Arc::new(Semaphore::new(self.per_target)),
                    breaker: self.breaker,
                    health: Mutex::default(),
                })
            })
            .clone()
    }

    /// Waits for a slot for `target` (its own first, then a global one).
    async fn acquire(&self, target: &TargetState) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        // The semaphores are never closed, so acquiring cannot fail.
        let own = target
            .slots
            .clone()
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("never closed"));
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("never closed"));
        (own, global)
    }
}

/// What became of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Nothing to do: gone (its client was deleted) or final already.
    Skipped,
    Finished(NotificationStatus),
    /// Some endpoint is down: what could be delivered was, the rest waits for a
    /// redrive (the notification stays PENDING).
    Deferred,
}

/// The idempotency key of a notification's delivery to one endpoint: the same on every
/// attempt, redelivery and redrive.
pub fn idempotency_key(notification_id: Uuid, endpoint_id: Uuid) -> String {
    format!("{notification_id}:{endpoint_id}")
}

fn payload(row: &notifications::Model) -> NotificationPayload {
    NotificationPayload {
        notification_id: row.id,
        client_id: row.client_id.clone(),
        shared: row.shared,
        alert: AlertBody {
            owner: (!row.shared).then(|| row.client_id.clone()),
            alert_id: row.alert_id.clone(),
            event_ts: row.event_ts,
            severity: row.severity.clone(),
            source: row.source.clone(),
            name: row.name.clone(),
            context: serde_json::from_value(row.context.clone()).unwrap_or_default(),
        },
        rule_ids: serde_json::from_value(row.rule_ids.clone()).unwrap_or_default(),
        created_at: row.created_at,
    }
}

/// The enabled endpoints of a batch's rules, by rule.
struct Endpoints {
    by_rule: HashMap<Uuid, Vec<(DateTime<Utc>, Target)>>,
}

impl Endpoints {
    /// The endpoints of these rules, each address once (the oldest endpoint naming it,
    /// so the choice, and the idempotency key, stay the same on every try).
    fn for_rules(&self, rule_ids: &[Uuid]) -> Vec<Target> {
        let mut all: Vec<&(DateTime<Utc>, Target)> = rule_ids
            .iter()
            .filter_map(|id| self.by_rule.get(id))
            .flatten()
            .collect();
        all.sort_by_key(|(created_at, target)| (*created_at, target.endpoint_id));
        let mut seen = HashSet::new();
        all.into_iter()
            .filter(|(_, target)| seen.insert((target.kind, target.value.as_str())))
            .map(|(_, target)| target.clone())
            .collect()
    }
}

async fn targets<C: ConnectionTrait>(
    db: &C,
    rule_ids: &BTreeSet<Uuid>,
) -> Result<Endpoints, DbErr> {
    let mut by_rule: HashMap<Uuid, Vec<(DateTime<Utc>, Target)>> = HashMap::new();
    let ids: Vec<Uuid> = rule_ids.iter().copied().collect();
    let enabled = endpoints::Entity::find().filter(endpoints::Column::Enabled.eq(true));
    for row in all_with_keys(db, enabled, endpoints::Column::RuleId, &ids).await? {
        let Ok(kind) = row.kind.parse::<EndpointKind>() else {
            continue;
        };
        by_rule.entry(row.rule_id).or_default().push((
            row.created_at,
            Target {
                endpoint_id: row.id,
                kind,
                value: row.value,
                secret: row.secret,
            },
        ));
    }
    Ok(Endpoints { by_rule })
}

/// One attempt's record: the row per (notification, endpoint), created or updated.
struct Record<'a> {
    notification_id: Uuid,
    target: &'a Target,
    attempts: i32,
    attempt: Attempt,
    /// Left for a redrive because the endpoint is down.
    deferred: bool,
}

impl Record<'_> {
    fn row(&self, now: chrono::DateTime<Utc>) -> deliveries::ActiveModel {
        let (status, error, http_status) = match &self.attempt {
            Attempt::Delivered { http_status } => (DELIVERED, None, *http_status),
            Attempt::Retryable {
                error, http_status, ..
            } => ("RETRYING", Some(error.clone()), *http_status),
            Attempt::Permanent { error, http_status } => {
                (FAILED, Some(error.clone()), *http_status)
            }
        };
        deliveries::ActiveModel {
            id: Set(Uuid::now_v7()),
            notification_id: Set(self.notification_id),
            endpoint_id: Set(self.target.endpoint_id),
            kind: Set(self.target.kind.as_str().to_owned()),
            target: Set(self.target.value.clone()),
            status: Set(status.to_owned()),
            attempts: Set(self.attempts),
            last_error: Set(error),
            last_http_status: Set(http_status.map(i32::from)),
            delivered_at: Set(matches!(self.attempt, Attempt::Delivered { .. }).then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }
}

/// How often a batch's finished deliveries are written while others are still going.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Rows per statement when recording (well under both databases' parameter limits).
const ROWS_PER_STATEMENT: usize = 500;

/// Writes attempt records, many rows per statement.
async fn record_attempts<C: ConnectionTrait>(db: &C, records: &[Record<'_>]) -> Result<(), DbErr> {
    let now = Utc::now();
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        deliveries::Entity::insert_many(chunk.iter().map(|r| r.row(now)))
            .on_conflict(
                OnConflict::columns([
                    deliveries::Column::NotificationId,
                    deliveries::Column::EndpointId,
                ])
                .update_columns([
                    deliveries::Column::Kind,
                    deliveries::Column::Target,
                    deliveries::Column::Status,
                    deliveries::Column::Attempts,
                    deliveries::Column::LastError,
                    deliveries::Column::LastHttpStatus,
                    deliveries::Column::DeliveredAt,
                    deliveries::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// One endpoint, one round: attempts until delivered, refused for good, out of
/// attempts, or the endpoint is down (deferred to a redrive). Attempts to be retried are
/// recorded as they happen (so a delivery stuck in retries shows why); the last
/// attempt's record is returned, to be written with the rest of the batch.
async fn deliver_to<'a, C: ConnectionTrait>(
    db: &C,
    channel: &dyn Channel,
    policy: &DeliveryPolicy,
    limits: &DeliveryLimits,
    payload: &NotificationPayload,
    target: &'a Target,
    attempts_before: i32,
) -> Result<Record<'a>, DbErr> {
    let key = idempotency_key(payload.notification_id, target.endpoint_id);
    let state = limits.target(&target.value);
    let record = |attempts: i32, attempt: Attempt, deferred: bool| Record {
        notification_id: payload.notification_id,
        target,
        attempts,
        attempt,
        deferred,
    };
    // The record of a delivery left for a redrive: why, after the last error if any.
    let defer = |attempts: i32, last: Option<(String, Option<u16>)>| {
        metrics().deliveries_deferred.inc();
        tracing::debug!(notification_id = %payload.notification_id, endpoint_id = %target.endpoint_id, "endpoint down: delivery deferred");
        let (error, http_status) = match last {
            Some((error, http_status)) => (format!("{error}; {DEFERRED}"), http_status),
            None => (DEFERRED.to_owned(), None),
        };
        record(
            attempts,
            Attempt::Retryable {
                error,
                http_status,
                retry_after: None,
            },
            true,
        )
    };
    let mut attempt = 1;
    loop {
        let attempts_made = attempts_before.saturating_add(attempt as i32 - 1);
        if state.is_down() {
            return Ok(defer(attempts_made, None));
        }
        let outcome = {
            // Bounded concurrency across every delivery of the process; a permit is
            // held for the attempt only, never across a backoff.
            let _permits = limits.acquire(&state).await;
            // It may have gone down while this one waited for a slot.
            if state.is_down() {
                return Ok(defer(attempts_made, None));
            }
            channel.deliver(payload, target, &key).await
        };
        state.observe(&outcome);
        let attempts = attempts_made.saturating_add(1);
        let last = attempt >= policy.max_attempts;
        match outcome {
            Attempt::Retryable {
                error, http_status, ..
            } if last => {
                metrics().deliveries_failed.inc();
                tracing::warn!(notification_id = %payload.notification_id, alert_id = %payload.alert.alert_id, client_id = %payload.client_id, endpoint_id = %target.endpoint_id, %error, attempts, "delivery gave up");
                return Ok(record(
                    attempts,
                    Attempt::Permanent {
                        error: format!("gave up after {} attempts: {error}", policy.max_attempts),
                        http_status,
                    },
                    false,
                ));
            }
            Attempt::Retryable {
                ref error,
                http_status,
                retry_after,
            } => {
                if state.is_down() {
                    return Ok(defer(attempts, Some((error.clone(), http_status))));
                }
                metrics().deliveries_retried.inc();
                let delay = policy.delay(attempt, retry_after);
                tracing::debug!(notification_id = %payload.notification_id, %error, retry_in_ms = delay.as_millis() as u64, "delivery will be retried");
                // Boxed: inline, this rarely taken write would make every delivery's
                // future several KiB, and a batch holds hundreds of them at once.
                Box::pin(record_attempts(
                    db,
                    &[record(attempts, outcome.clone(), false)],
                ))
                .await?;
                tokio::time::sleep(delay).await;
            }
            Attempt::Permanent { ref error, .. } => {
                metrics().deliveries_failed.inc();
                tracing::warn!(notification_id = %payload.notification_id, alert_id = %payload.alert.alert_id, client_id = %payload.client_id, endpoint_id = %target.endpoint_id, %error, "delivery failed for good");
                return Ok(record(attempts, outcome, false));
            }
            Attempt::Delivered { .. } => {
                let metrics = metrics();
                metrics.deliveries_delivered.inc();
                let waited = (Utc::now() - payload.created_at)
                    .to_std()
                    .unwrap_or_default();
                metrics.delivery_latency.observe(waited);
                tracing::debug!(notification_id = %payload.notification_id, alert_id = %payload.alert.alert_id, client_id = %payload.client_id, endpoint_id = %target.endpoint_id, attempts, "delivered");
                return Ok(record(attempts, outcome, false));
            }
        }
        attempt += 1;
    }
}

/// A notification's deliveries of this round, and its outcome once they are done.
async fn deliver_notification<'a, C: ConnectionTrait>(
    db: &C,
    channel: &dyn Channel,
    policy: &DeliveryPolicy,
    limits: &DeliveryLimits,
    payload: &NotificationPayload,
    targets: &'a [Target],
    done: &HashMap<Uuid, &deliveries::Model>,
) -> Result<(SendOutcome, Vec<Record<'a>>), DbErr> {
    let mut delivered = 0;
    let mut pending = Vec::new();
    let cap = if policy.max_deliveries == 0 {
        targets.len()
    } else {
        policy.max_deliveries.min(targets.len())
    };
    let (targets_in_cap, over) = targets.split_at(cap);
    let delivered_before = |target: &Target| {
        done.get(&target.endpoint_id)
            .is_some_and(|p| p.status == DELIVERED)
    };
    let mut records: Vec<Record<'a>> = over
        .iter()
        .filter(|target| !delivered_before(target))
        .map(|target| Record {
            notification_id: payload.notification_id,
            target,
            attempts: 0,
            attempt: Attempt::Permanent {
                error: format!(
                    "not sent: the notification has {} addresses, over MAX_DELIVERIES_PER_NOTIFICATION ({cap})",
                    targets.len()
                ),
                http_status: None,
            },
            deferred: false,
        })
        .collect();
    delivered += over.len() - records.len();
    if !over.is_empty() {
        tracing::warn!(notification_id = %payload.notification_id, client_id = %payload.client_id, addresses = targets.len(), max = cap, "notification over MAX_DELIVERIES_PER_NOTIFICATION: the rest not sent");
    }
    for target in targets_in_cap {
        match done.get(&target.endpoint_id) {
            Some(previous) if previous.status == DELIVERED => delivered += 1,
            previous => pending.push(deliver_to(
                db,
                channel,
                policy,
                limits,
                payload,
                target,
                previous.map_or(0, |p| p.attempts),
            )),
        }
    }
    records.reserve(pending.len());
    for result in join_all(pending).await {
        let record = result?;
        if matches!(record.attempt, Attempt::Delivered { .. }) {
            delivered += 1;
        }
        records.push(record);
    }
    let outcome = if records.iter().any(|r| r.deferred) {
        SendOutcome::Deferred
    } else if delivered == targets.len() {
        SendOutcome::Finished(NotificationStatus::Sent)
    } else if delivered == 0 {
        SendOutcome::Finished(NotificationStatus::Failed)
    } else {
        SendOutcome::Finished(NotificationStatus::Partial)
    };
    Ok((outcome, records))
}

async fn set_statuses<C: ConnectionTrait>(
    db: &C,
    outcomes: &[(Uuid, SendOutcome)],
) -> Result<(), DbErr> {
    let mut by_status: HashMap<NotificationStatus, Vec<Uuid>> = HashMap::new();
    for (id, outcome) in outcomes {
        let status = match outcome {
            SendOutcome::Skipped => continue,
            SendOutcome::Finished(status) => *status,
            // PENDING again, and from now: the redrive's clock starts over.
            SendOutcome::Deferred => NotificationStatus::Pending,
        };
        by_status.entry(status).or_default().push(*id);
    }
    let now = Utc::now();
    for (status, ids) in by_status {
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            notifications::Entity::update_many()
                .col_expr(notifications::Column::Status, Expr::value(status.as_str()))
                .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
                .filter(notifications::Column::Id.is_in(chunk.iter().copied()))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// The attempts and statuses finished since the last write, in one transaction: one
/// commit (one WAL flush in Postgres) where there were two.
async fn write_finished<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    records: &[Record<'_>],
    finished: &[(Uuid, SendOutcome)],
) -> Result<(), DbErr> {
    if records.is_empty() && finished.is_empty() {
        return Ok(());
    }
    let transaction = db.begin().await?;
    prefer_index_lookups(&transaction).await?;
    record_attempts(&transaction, records).await?;
    set_statuses(&transaction, finished).await?;
    transaction.commit().await
}

/// What the sender reads for a batch before delivering it.
struct BatchRead {
    /// The notifications with nothing to do: gone (their client was deleted) or final.
    outcomes: Vec<(Uuid, SendOutcome)>,
    /// The notifications to deliver.
    payloads: Vec<NotificationPayload>,
    endpoints: Endpoints,
    /// Their deliveries of earlier rounds.
    earlier: Vec<deliveries::Model>,
}

async fn read_batch<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<BatchRead, DbErr> {
    let rows = all_with_keys(
        db,
        notifications::Entity::find(),
        notifications::Column::Id,
        ids,
    )
    .await?;
    let mut outcomes: Vec<(Uuid, SendOutcome)> = Vec::with_capacity(ids.len());
    let found: HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
    outcomes.extend(
        ids.iter()
            .filter(|id| !found.contains(id))
            .map(|id| (*id, SendOutcome::Skipped)),
    );
    let (already_final, rows): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| {
        row.status == NotificationStatus::Sent.as_str()
            || row.status == NotificationStatus::NoEndpoints.as_str()
    });
    outcomes.extend(
        already_final
            .iter()
            .map(|row| (row.id, SendOutcome::Skipped)),
    );
    let payloads: Vec<NotificationPayload> = rows.iter().map(payload).collect();
    let rule_ids: BTreeSet<Uuid> = payloads
        .iter()
        .flat_map(|p| p.rule_ids.iter().copied())
        .collect();
    // No rules (nothing left to deliver): no query.
    let endpoints = targets(db, &rule_ids).await?;
    let row_ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let earlier = all_with_keys(
        db,
        deliveries::Entity::find(),
        deliveries::Column::NotificationId,
        &row_ids,
    )
    .await?;
    Ok(BatchRead {
        outcomes,
        payloads,
        endpoints,
        earlier,
    })
}

/// Delivers a batch of notifications to every endpoint that still needs them, with a
/// handful of statements for the whole batch: the notifications, their endpoints and
/// their earlier deliveries are read at once, and the records and statuses written at
/// once when every delivery of the batch is done.
pub async fn send_notifications<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    channel: &dyn Channel,
    policy: &DeliveryPolicy,
    limits: &DeliveryLimits,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, SendOutcome)>, DbErr> {
    // `SET LOCAL` needs a transaction; SQLite needs neither.
    let BatchRead {
        mut outcomes,
        payloads,
        endpoints,
        earlier,
    } = if db.get_database_backend() == DbBackend::Postgres {
        let reads = db.begin().await?;
        prefer_index_lookups(&reads).await?;
        let read = read_batch(&reads, ids).await?;
        reads.commit().await?;
        read
    } else {
        read_batch(db, ids).await?
    };
    if payloads.is_empty() {
        return Ok(outcomes);
    }
    let mut done: HashMap<Uuid, HashMap<Uuid, &deliveries::Model>> = HashMap::new();
    for delivery in &earlier {
        done.entry(delivery.notification_id)
            .or_default()
            .insert(delivery.endpoint_id, delivery);
    }
    let per_notification: Vec<Vec<Target>> = payloads
        .iter()
        .map(|p| endpoints.for_rules(&p.rule_ids))
        .collect();
    let none = HashMap::new();
    // Statuses to write: those without endpoints at once, the others as they finish.
    let mut finished = Vec::new();
    let mut work = Vec::new();
    for (payload, targets) in payloads.iter().zip(&per_notification) {
        if targets.is_empty() {
            finished.push((
                payload.notification_id,
                SendOutcome::Finished(NotificationStatus::NoEndpoints),
            ));
            continue;
        }
        let done = done.get(&payload.notification_id).unwrap_or(&none);
        work.push(async move {
            deliver_notification(db, channel, policy, limits, payload, targets, done)
                .await
                .map(|(outcome, records)| (payload.notification_id, outcome, records))
        });
    }
    // What is finished is written every FLUSH_EVERY, so one slow receiver does not keep
    // the rest of the batch's records and statuses unwritten.
    let mut work: FuturesUnordered<_> = work.into_iter().collect();
    let mut records = Vec::new();
    let mut written = 0;
    let flush = tokio::time::sleep(FLUSH_EVERY);
    tokio::pin!(flush);
    loop {
        tokio::select! {
            next = work.next() => match next {
                Some(result) => {
                    let (id, outcome, mut more) = result?;
                    records.append(&mut more);
                    finished.push((id, outcome));
                }
                None => break,
            },
            () = &mut flush => {
                write_finished(db, &records, &finished[written..]).await?;
                records.clear();
                written = finished.len();
                flush.as_mut().reset(tokio::time::Instant::now() + FLUSH_EVERY);
            }
        }
    }
    write_finished(db, &records, &finished[written..]).await?;
    outcomes.append(&mut finished);
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Attempt {
        Attempt::Retryable {
            error: "timed out".to_owned(),
            http_status: None,
            retry_after: None,
        }
    }

    fn limits_with(failures: u32) -> DeliveryLimits {
        DeliveryLimits::new(4, 2).with_breaker(CircuitBreaker {
            failures,
            cooldown: Duration::from_secs(30),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_is_down_after_failures_in_a_row_until_it_answers() {
        let limits = limits_with(3);
        let hook = limits.target("https://hooks.example/a");
        let other = limits.target("https://hooks.example/b");
        hook.observe(&failure());
        hook.observe(&failure());
        assert!(!hook.is_down(), "two failures are not yet three");
        hook.observe(&failure());
        assert!(hook.is_down());
        assert!(!other.is_down(), "one endpoint's failures are its own");
        assert!(
            limits.target("https://hooks.example/a").is_down(),
            "the state is kept per address"
        );
        // Any answer, even a refusal, shows it is up.
        hook.observe(&Attempt::Permanent {
            error: "410".to_owned(),
            http_status: Some(410),
        });
        assert!(!hook.is_down());
        hook.observe(&failure());
        assert!(!hook.is_down(), "the count starts over after an answer");
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_is_tried_again_after_the_cooldown_and_down_at_its_next_failure() {
        let limits = limits_with(2);
        let hook = limits.target("https://hooks.example/a");
        hook.observe(&failure());
        hook.observe(&failure());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(hook.is_down(), "down for the whole cooldown");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!hook.is_down(), "tried again once the cooldown is over");
        hook.observe(&failure());
        assert!(hook.is_down(), "one failure after the cooldown is enough");
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_of_zero_failures_never_opens() {
        let limits = limits_with(0);
        let hook = limits.target("https://hooks.example/a");
        for _ in 0..100 {
            hook.observe(&failure());
        }
        assert!(!hook.is_down());
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let policy = DeliveryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
            max_deliveries: 0,
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(
                first >= Duration::from_millis(75) && first <= Duration::from_millis(125),
                "{first:?}"
            );
            let third = policy.delay(3, None);
            assert!(
                third >= Duration::from_millis(300) && third <= Duration::from_millis(500),
                "{third:?}"
            );
            let capped = policy.delay(10, None);
            assert!(capped <= Duration::from_millis(1250), "{capped:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }
}
