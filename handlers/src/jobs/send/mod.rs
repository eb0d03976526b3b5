//! The sender's handler: delivers each notification to the enabled endpoints of its
//! rules (the same address once, however many rules name it), skipping endpoints that
//! already have a successful delivery, retrying what can be retried, recording every
//! attempt, and setting the notification's final status. A resolved notification's
//! resolution goes, after it, to every endpoint that took the notification, as a
//! delivery of its own (phase `resolved`, its own idempotency key and status).
//!
//! A batch waits for its deliveries, but not for a slow receiver: once it has waited
//! SENDER_BATCH_WAIT and one of its receivers has kept an attempt waiting longer than
//! that, what is not done goes on in the background, holding only its own receivers'
//! slots, and writes its records and status when it is done; the batch is finished and
//! its offsets commit. So a receiver that hangs delays no other notification, and
//! nothing is lost if the process dies meanwhile: the notification is still PENDING,
//! and the redrive announces it again.
//!
//! - `policy`: attempts, backoff, the delivery cap, the circuit breaker's settings.
//! - `receivers`: slots and health per receiver and client, and the in-flight claims.
//! - `records`: the batch's reads, and the attempts' and statuses' writes.

mod policy;
mod receivers;
mod records;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use chrono::Utc;
use futures_util::{StreamExt, future::join_all, stream::FuturesUnordered};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use policy::{CircuitBreaker, DeliveryPolicy};
pub use receivers::DeliveryLimits;
use receivers::{Claim, Receiver};
use records::{BatchRead, Due, Earlier, Record, read_batch, record_attempts, write_finished};

use super::silences::{Current, Silencer};

use crate::{
    domain::{AlertStatus, DeliveryPhase, NotificationStatus},
    jobs::index_lookups::prefer_index_lookups,
    metrics::metrics,
    ports::{Attempt, Channel, NotificationPayload, Resolution, Target},
};

/// Why a delivery waits, RETRYING, for a redrive.
const DEFERRED: &str = "deferred: the receiver keeps failing; the next redrive tries again";

/// How often a batch's finished deliveries are written while others are still going.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// What became of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Nothing to do: gone (its client was deleted), final already, or being delivered
    /// by this process already.
    Skipped,
    Finished(NotificationStatus),
    /// Some receiver is down: what could be delivered was, the rest waits for a
    /// redrive (the notification stays PENDING).
    Deferred,
    /// Still being delivered after its batch's wait; its records and status are written
    /// when it is done (PENDING until then).
    Continuing,
}

/// The idempotency key of a notification's delivery to one endpoint: the same on every
/// attempt, redelivery and redrive; each repeat and its resolution have keys of their
/// own (`…:repeat-2`, `…:resolved`).
pub fn idempotency_key(notification_id: Uuid, endpoint_id: Uuid, phase: DeliveryPhase) -> String {
    match phase {
        DeliveryPhase::Firing => format!("{notification_id}:{endpoint_id}"),
        other => format!("{notification_id}:{endpoint_id}:{}", other.name()),
    }
}

/// What one notification's delivery needs, owned, so that it can outlive its batch.
struct Job {
    db: DatabaseConnection,
    channel: Arc<dyn Channel>,
    policy: DeliveryPolicy,
    limits: Arc<DeliveryLimits>,
    payload: NotificationPayload,
    /// Whether the notification itself is still to deliver (it is PENDING).
    firing: bool,
    /// Its repeat still to deliver, if any, and whether a silence holds it back.
    repeat: Option<(i32, bool)>,
    /// Its resolution, if that is still to deliver.
    resolution: Option<Resolution>,
    targets: Vec<Target>,
    /// Each target's receiver, found once for the batch and the job.
    receivers: Vec<Arc<Receiver>>,
    earlier: HashMap<(Uuid, DeliveryPhase), Earlier>,
    /// Held until the job's records are written (or the job is dropped).
    claim: Claim,
}

/// A finished job: its notification, its firing delivery's and its resolution's
/// outcomes (none: not part of the job), its records, and its claim, released once
/// they are written.
struct Done {
    id: Uuid,
    firing: Option<SendOutcome>,
    /// Which repeat, and its outcome.
    repeat: Option<(i32, SendOutcome)>,
    resolution: Option<SendOutcome>,
    records: Vec<Record>,
    claim: Claim,
    /// The silence that kept it from being delivered.
    silenced_by: Option<Uuid>,
}

/// One endpoint, one round: attempts until delivered, refused for good, out of
/// attempts, or the receiver is down (deferred to a redrive). Attempts to be retried
/// are recorded as they happen (so a delivery stuck in retries shows why); the last
/// attempt's record is returned, to be written with the rest.
async fn deliver_to(
    job: &Job,
    payload: &NotificationPayload,
    phase: DeliveryPhase,
    target: &Target,
    receiver: &Receiver,
    attempts_before: i32,
) -> Result<Record, DbErr> {
    let key = idempotency_key(payload.notification_id, target.endpoint_id, phase);
    let record = |attempts: i32, attempt: Attempt, deferred: bool| Record {
        notification_id: payload.notification_id,
        target: target.clone(),
        phase,
        attempts,
        attempt,
        deferred,
    };
    // The record of a delivery left for a redrive: why, after the last error if any.
    let defer = |attempts: i32, last: Option<(String, Option<u16>)>| {
        metrics().deliveries_deferred.inc();
        tracing::debug!(notification_id = %payload.notification_id, endpoint_id = %target.endpoint_id, "receiver down: delivery deferred");
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
    let policy = &job.policy;
    let mut attempt = 1;
    loop {
        let attempts_made = attempts_before.saturating_add(attempt as i32 - 1);
        if receiver.is_down() {
            return Ok(defer(attempts_made, None));
        }
        let outcome = {
            // A permit is held for the attempt only, never across a backoff.
            let _slots = job.limits.acquire(&payload.client_id, receiver).await;
            // It may have gone down while this one waited for a slot.
            if receiver.is_down() {
                return Ok(defer(attempts_made, None));
            }
            let _in_flight = receiver.attempt();
            job.channel.deliver(payload, target, &key).await
        };
        receiver.observe(&outcome);
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
                if receiver.is_down() {
                    return Ok(defer(attempts, Some((error.clone(), http_status))));
                }
                metrics().deliveries_retried.inc();
                let delay = policy.delay(attempt, retry_after);
                tracing::debug!(notification_id = %payload.notification_id, %error, retry_in_ms = delay.as_millis() as u64, "delivery will be retried");
                // Boxed: inline, this rarely taken write would make every delivery's
                // future several KiB, and a batch holds hundreds of them at once.
                Box::pin(record_attempts(
                    &job.db,
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
                // From what it tells: the alert, or its end. A repeat is on a timer.
                let since = match (&payload.resolution, payload.repeat) {
                    (Some(resolution), _) => Some(resolution.resolved_at),
                    (None, Some(_)) => None,
                    (None, None) => Some(payload.created_at),
                };
                if let Some(since) = since {
                    let waited = (Utc::now() - since).to_std().unwrap_or_default();
                    metrics.delivery_latency.observe(waited);
                }
                tracing::debug!(notification_id = %payload.notification_id, alert_id = %payload.alert.alert_id, client_id = %payload.client_id, endpoint_id = %target.endpoint_id, attempts, "delivered");
                return Ok(record(attempts, outcome, false));
            }
        }
        attempt += 1;
    }
}

/// A notification's deliveries of this round: the notification itself if it is still
/// to deliver, then its repeat, then its resolution; and their outcomes once they are
/// done.
async fn deliver_notification(job: Job) -> Result<Done, DbErr> {
    let mut records = Vec::new();
    let firing = if job.firing {
        Some(deliver_round(&job, &job.payload, DeliveryPhase::Firing, &mut records).await?)
    } else {
        None
    };
    let repeat = match job.repeat {
        Some((n, true)) => Some((n, SendOutcome::Finished(NotificationStatus::Silenced))),
        Some((n, false)) => {
            let mut payload = job.payload.clone();
            payload.repeat = Some(n);
            let outcome =
                deliver_round(&job, &payload, DeliveryPhase::Repeat(n), &mut records).await?;
            Some((n, outcome))
        }
        None => None,
    };
    let resolution = match &job.resolution {
        Some(resolution) => {
            Some(deliver_resolution(&job, resolution, firing.as_ref(), &mut records).await?)
        }
        None => None,
    };
    let Job { payload, claim, .. } = job;
    Ok(Done {
        id: payload.notification_id,
        firing,
        repeat,
        resolution,
        records,
        claim,
        silenced_by: None,
    })
}

/// The outcome of a round that told `told` endpoints and had `delivered` take it.
fn outcome_of(records: &[Record], delivered: usize, told: usize) -> SendOutcome {
    if records.iter().any(|r| r.deferred) {
        SendOutcome::Deferred
    } else if told == 0 {
        SendOutcome::Finished(NotificationStatus::NoEndpoints)
    } else if delivered == told {
        SendOutcome::Finished(NotificationStatus::Sent)
    } else if delivered == 0 {
        SendOutcome::Finished(NotificationStatus::Failed)
    } else {
        SendOutcome::Finished(NotificationStatus::Partial)
    }
}

/// The notification's deliveries to every endpoint of its rules, as itself or as one of
/// its repeats (`payload` and `phase` say which). The addresses past the delivery cap
/// are recorded as failed, never tried.
async fn deliver_round(
    job: &Job,
    payload: &NotificationPayload,
    phase: DeliveryPhase,
    all: &mut Vec<Record>,
) -> Result<SendOutcome, DbErr> {
    let targets = &job.targets;
    let earlier = |target: &Target| job.earlier.get(&(target.endpoint_id, phase));
    let delivered_before = |target: &Target| earlier(target).is_some_and(|e| e.delivered);
    let cap = match job.policy.max_deliveries {
        0 => targets.len(),
        max => max.min(targets.len()),
    };
    let (in_cap, over) = targets.split_at(cap);
    let mut records: Vec<Record> = over
        .iter()
        .filter(|target| !delivered_before(target))
        .map(|target| Record {
            notification_id: payload.notification_id,
            target: target.clone(),
            phase,
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
    let mut delivered = over.len() - records.len();
    if !over.is_empty() {
        tracing::warn!(notification_id = %job.payload.notification_id, client_id = %job.payload.client_id, addresses = targets.len(), max = cap, "notification over MAX_DELIVERIES_PER_NOTIFICATION: the rest not sent");
    }
    let mut pending = Vec::new();
    for (target, receiver) in in_cap.iter().zip(&job.receivers) {
        match earlier(target) {
            Some(earlier) if earlier.delivered => delivered += 1,
            earlier => pending.push(deliver_to(
                job,
                payload,
                phase,
                target,
                receiver,
                earlier.map_or(0, |e| e.attempts),
            )),
        }
    }
    for result in join_all(pending).await {
        let record = result?;
        if matches!(record.attempt, Attempt::Delivered { .. }) {
            delivered += 1;
        }
        records.push(record);
    }
    let outcome = outcome_of(&records, delivered, targets.len());
    all.append(&mut records);
    Ok(outcome)
}

/// The resolution's deliveries: to every endpoint that took the notification (before,
/// or in this round's `firing` records), none other. It waits while the notification's
/// own delivery does (deferred to a redrive).
async fn deliver_resolution(
    job: &Job,
    resolution: &Resolution,
    firing: Option<&SendOutcome>,
    all: &mut Vec<Record>,
) -> Result<SendOutcome, DbErr> {
    if firing == Some(&SendOutcome::Deferred) {
        return Ok(SendOutcome::Deferred);
    }
    let took_now: HashSet<Uuid> = all
        .iter()
        .filter(|r| matches!(r.attempt, Attempt::Delivered { .. }))
        .map(|r| r.target.endpoint_id)
        .collect();
    // The notification itself, or one of its repeats (an endpoint added since it
    // fired, or that refused it then).
    let took = |target: &Target| {
        took_now.contains(&target.endpoint_id)
            || job.earlier.iter().any(|((endpoint, phase), e)| {
                *endpoint == target.endpoint_id
                    && e.delivered
                    && matches!(phase, DeliveryPhase::Firing | DeliveryPhase::Repeat(_))
            })
    };
    let mut payload = job.payload.clone();
    payload.alert.status = AlertStatus::Resolved;
    payload.resolution = Some(resolution.clone());
    let (mut told, mut delivered) = (0, 0);
    let mut pending = Vec::new();
    for (target, receiver) in job.targets.iter().zip(&job.receivers) {
        if !took(target) {
            continue;
        }
        told += 1;
        match job
            .earlier
            .get(&(target.endpoint_id, DeliveryPhase::Resolved))
        {
            Some(earlier) if earlier.delivered => delivered += 1,
            earlier => pending.push(deliver_to(
                job,
                &payload,
                DeliveryPhase::Resolved,
                target,
                receiver,
                earlier.map_or(0, |e| e.attempts),
            )),
        }
    }
    let mut records = Vec::new();
    for result in join_all(pending).await {
        let record = result?;
        if matches!(record.attempt, Attempt::Delivered { .. }) {
            delivered += 1;
        }
        records.push(record);
    }
    let outcome = outcome_of(&records, delivered, told);
    all.append(&mut records);
    Ok(outcome)
}

/// The silence that applies to a notification about to be delivered, if any.
fn silenced(
    silences: &Current,
    payload: &NotificationPayload,
    at: chrono::DateTime<Utc>,
) -> Option<Uuid> {
    if !silences.has_any(&payload.client_id) {
        return None;
    }
    let alert = payload.alert.clone().into_alert().ok()?;
    let silence = silences.silencing(&payload.client_id, &alert, at)?;
    metrics().notifications_silenced.inc();
    tracing::debug!(notification_id = %payload.notification_id, silence_id = %silence, "notification silenced");
    Some(silence)
}

/// Finished jobs, gathered to be written together.
#[derive(Default)]
struct Finished {
    records: Vec<Record>,
    /// The notifications' own outcomes, their repeats' (with which repeat) and their
    /// resolutions'.
    outcomes: Vec<(Uuid, SendOutcome)>,
    repeats: Vec<(Uuid, i32, SendOutcome)>,
    resolutions: Vec<(Uuid, SendOutcome)>,
    /// Notifications a silence kept back, and the silence.
    silenced: Vec<(Uuid, Uuid)>,
    claims: Vec<Claim>,
}

impl Finished {
    fn add(&mut self, mut done: Done) {
        self.records.append(&mut done.records);
        self.outcomes
            .extend(done.firing.map(|outcome| (done.id, outcome)));
        self.repeats
            .extend(done.repeat.map(|(n, outcome)| (done.id, n, outcome)));
        self.resolutions
            .extend(done.resolution.map(|outcome| (done.id, outcome)));
        self.silenced
            .extend(done.silenced_by.map(|silence| (done.id, silence)));
        self.claims.push(done.claim);
    }

    /// Writes what was gathered, then lets the claims go; returns the notifications'
    /// own outcomes.
    async fn write(&mut self, db: &DatabaseConnection) -> Result<Vec<(Uuid, SendOutcome)>, DbErr> {
        write_finished(
            db,
            &self.records,
            &self.outcomes,
            &self.repeats,
            &self.resolutions,
            &self.silenced,
        )
        .await?;
        self.records.clear();
        self.repeats.clear();
        self.resolutions.clear();
        self.silenced.clear();
        self.claims.clear();
        Ok(std::mem::take(&mut self.outcomes))
    }
}

/// The jobs that outlived their batch: each written when done, a flush at a time. A
/// write that fails leaves its notifications PENDING, for the redrive.
async fn finish_in_background(
    db: DatabaseConnection,
    mut work: FuturesUnordered<JoinHandle<Result<Done, DbErr>>>,
    backlog: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let mut finished = Finished::default();
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            next = work.next() => match next {
                Some(Ok(Ok(done))) => finished.add(done),
                Some(Ok(Err(err))) => tracing::warn!(error = %err, "a delivery could not be recorded; the redrive will announce it again"),
                Some(Err(err)) => tracing::error!(error = %err, "a delivery task ended abnormally; the redrive will announce it again"),
                None => break,
            },
            _ = flush.tick() => {
                if let Err(err) = finished.write(&db).await {
                    tracing::warn!(error = %err, "deliveries could not be recorded; the redrive will announce them again");
                }
            }
        }
    }
    if let Err(err) = finished.write(&db).await {
        tracing::warn!(error = %err, "deliveries could not be recorded; the redrive will announce them again");
    }
    drop(backlog);
}

/// Each job's receivers, to tell whether a slow one holds it.
type Held = Vec<(Uuid, Vec<Arc<Receiver>>)>;

/// Waits for a batch's jobs, writing what finishes every FLUSH_EVERY, until all are done,
/// or the batch has waited its SENDER_BATCH_WAIT, a job still going is held by a slow
/// receiver and the backlog has room for the rest. Jobs that are merely many are waited
/// for: the offsets of their batch commit only once they are written, so a crash
/// redelivers them at once rather than at the next redrive. A job that could not record
/// its attempts fails the batch, to be tried again.
async fn wait(
    work: &mut FuturesUnordered<JoinHandle<Result<Done, DbErr>>>,
    held: &Held,
    finished: &mut Finished,
    outcomes: &mut Vec<(Uuid, SendOutcome)>,
    db: &DatabaseConnection,
    limits: &DeliveryLimits,
    started: tokio::time::Instant,
) -> Result<(), DbErr> {
    let mut flush = tokio::time::interval_at(started + FLUSH_EVERY, FLUSH_EVERY);
    let deadline = tokio::time::sleep_until(started + limits.batch_wait);
    tokio::pin!(deadline);
    let mut waited = false;
    let mut done: HashSet<Uuid> = HashSet::new();
    while !work.is_empty() {
        if waited
            && limits.backlog.available_permits() >= work.len()
            && held.iter().any(|(id, receivers)| {
                !done.contains(id) && receivers.iter().any(|r| r.is_slow(limits.batch_wait))
            })
        {
            return Ok(());
        }
        tokio::select! {
            next = work.next() => match next {
                Some(Ok(result)) => {
                    let result = result?;
                    done.insert(result.id);
                    finished.add(result);
                }
                Some(Err(err)) => return Err(DbErr::Custom(format!("a delivery task ended abnormally: {err}"))),
                None => return Ok(()),
            },
            _ = flush.tick() => outcomes.extend(finished.write(db).await?),
            () = &mut deadline, if !waited => waited = true,
        }
    }
    Ok(())
}

/// Delivers a batch of notifications to every endpoint that still needs them, with a
/// handful of statements for the whole batch: the notifications, their endpoints and
/// their earlier deliveries are read at once, and what finishes is written together.
/// Returns once every delivery is done or the batch has waited SENDER_BATCH_WAIT; the
/// rest goes on in the background ([`SendOutcome::Continuing`]).
pub async fn send_notifications(
    db: &DatabaseConnection,
    channel: &Arc<dyn Channel>,
    policy: &DeliveryPolicy,
    limits: &Arc<DeliveryLimits>,
    silencer: &Silencer,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, SendOutcome)>, DbErr> {
    let started = tokio::time::Instant::now();
    // A notification this process is delivering already (announced twice: its
    // resolution, or a redrive while its receiver is slow) is claimed once that
    // delivery is written, if that comes within the batch's wait; else it is left to
    // that delivery and the redrive.
    let mut claims: HashMap<Uuid, Claim> = limits
        .claim(ids)
        .into_iter()
        .map(|claim| (claim.id, claim))
        .collect();
    let busy: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !claims.contains_key(id))
        .collect();
    if !busy.is_empty() {
        claims.extend(
            limits
                .claim_within(&busy, limits.batch_wait)
                .await
                .into_iter()
                .map(|claim| (claim.id, claim)),
        );
    }
    let mut outcomes: Vec<(Uuid, SendOutcome)> = ids
        .iter()
        .filter(|id| !claims.contains_key(id))
        .map(|id| (*id, SendOutcome::Skipped))
        .collect();
    let claimed: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| claims.contains_key(id))
        .collect();
    // `SET LOCAL` needs a transaction; SQLite needs neither.
    let BatchRead {
        outcomes: nothing_to_do,
        due,
        endpoints,
        mut earlier,
    } = if db.get_database_backend() == DbBackend::Postgres {
        let reads = db.begin().await?;
        prefer_index_lookups(&reads).await?;
        let read = read_batch(&reads, &claimed).await?;
        reads.commit().await?;
        read
    } else {
        read_batch(db, &claimed).await?
    };
    outcomes.extend(nothing_to_do);
    let silences = silencer.current(db).await?;
    let now = Utc::now();
    // Statuses to write: those without endpoints at once, the others as they finish.
    let mut finished = Finished::default();
    let mut held: Held = Vec::new();
    let mut work: FuturesUnordered<JoinHandle<Result<Done, DbErr>>> = FuturesUnordered::new();
    for Due {
        payload,
        firing,
        repeat,
        resolution,
    } in due
    {
        let Some(claim) = claims.remove(&payload.notification_id) else {
            continue;
        };
        let silence = (firing || repeat.is_some())
            .then(|| silenced(&silences, &payload, now))
            .flatten();
        let silenced_by = silence.filter(|_| firing);
        let targets = endpoints.for_rules(&payload.rule_ids);
        if targets.is_empty() || silenced_by.is_some() {
            let nobody = SendOutcome::Finished(NotificationStatus::NoEndpoints);
            let outcome = match silenced_by {
                Some(_) => SendOutcome::Finished(NotificationStatus::Silenced),
                None => nobody.clone(),
            };
            finished.add(Done {
                id: payload.notification_id,
                firing: firing.then_some(outcome.clone()),
                repeat: repeat.map(|n| (n, outcome)),
                resolution: resolution.map(|_| nobody),
                records: Vec::new(),
                claim,
                silenced_by,
            });
            continue;
        }
        let receivers: Vec<Arc<Receiver>> = targets
            .iter()
            .map(|target| limits.receiver(&payload.client_id, target))
            .collect();
        held.push((payload.notification_id, receivers.clone()));
        let job = Job {
            db: db.clone(),
            channel: channel.clone(),
            policy: policy.clone(),
            limits: limits.clone(),
            earlier: earlier.remove(&payload.notification_id).unwrap_or_default(),
            payload,
            firing,
            repeat: repeat.map(|n| (n, silence.is_some())),
            resolution,
            targets,
            receivers,
            claim,
        };
        work.push(tokio::spawn(deliver_notification(job)));
    }
    // The claims left are of notifications with nothing to do: free them now.
    drop(claims);
    let waited = wait(
        &mut work,
        &held,
        &mut finished,
        &mut outcomes,
        db,
        limits,
        started,
    )
    .await;
    if !work.is_empty() {
        tracing::debug!(
            notifications = work.len(),
            "the slow deliveries go on after their batch"
        );
        let backlog = u32::try_from(work.len())
            .ok()
            .and_then(|n| limits.backlog.clone().try_acquire_many_owned(n).ok());
        tokio::spawn(finish_in_background(db.clone(), work, backlog));
    }
    waited?;
    outcomes.extend(finished.write(db).await?);
    let settled: HashSet<Uuid> = outcomes.iter().map(|(id, _)| *id).collect();
    outcomes.extend(
        ids.iter()
            .filter(|id| !settled.contains(id))
            .map(|id| (*id, SendOutcome::Continuing)),
    );
    Ok(outcomes)
}
