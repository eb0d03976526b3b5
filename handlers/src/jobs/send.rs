//! The sender's handler: delivers one notification to the enabled endpoints of its
//! rules (the same address once, however many rules name it), skipping endpoints that
//! already have a successful delivery, retrying what can be retried, recording every
//! attempt, and setting the notification's final status.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use alerting_entities::{deliveries, endpoints, notifications};
use chrono::Utc;
use futures_util::future::join_all;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::{
    domain::{EndpointKind, NotificationStatus},
    events::AlertBody,
    ports::{Attempt, Channel, NotificationPayload, Target},
};

pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";

/// How hard the sender tries.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts per endpoint in one round (a redrive starts another round).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
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

/// How many attempts may be in flight: in all, and per endpoint address. The second
/// bound keeps one hanging receiver from taking every slot and stalling the others.
pub struct DeliveryLimits {
    global: Arc<Semaphore>,
    per_target: usize,
    targets: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl DeliveryLimits {
    pub fn new(global: usize, per_target: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_target: per_target.max(1),
            targets: Mutex::default(),
        }
    }

    /// Waits for a slot for `target` (its own first, then a global one).
    async fn acquire(&self, target: &str) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let own = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_target)))
            .clone();
        // The semaphores are never closed, so acquiring cannot fail.
        let own = own
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
        alert: AlertBody {
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

/// The enabled endpoints of the rules, each address once (the oldest endpoint naming
/// it, so the choice, and the idempotency key, stay the same on every try).
async fn targets<C: ConnectionTrait>(db: &C, rule_ids: &[Uuid]) -> Result<Vec<Target>, DbErr> {
    let rows = endpoints::Entity::find()
        .filter(endpoints::Column::RuleId.is_in(rule_ids.iter().copied()))
        .filter(endpoints::Column::Enabled.eq(true))
        .order_by_asc(endpoints::Column::CreatedAt)
        .order_by_asc(endpoints::Column::Id)
        .all(db)
        .await?;
    let mut seen = HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|row| seen.insert((row.kind.clone(), row.value.clone())))
        .filter_map(|row| {
            let kind: EndpointKind = row.kind.parse().ok()?;
            Some(Target {
                endpoint_id: row.id,
                kind,
                value: row.value,
                secret: row.secret,
            })
        })
        .collect())
}

async fn set_status<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    status: NotificationStatus,
) -> Result<(), DbErr> {
    notifications::Entity::update_many()
        .col_expr(notifications::Column::Status, Expr::value(status.as_str()))
        .col_expr(notifications::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(notifications::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records one attempt: the row per (notification, endpoint) is created or updated.
async fn record<C: ConnectionTrait>(
    db: &C,
    notification_id: Uuid,
    target: &Target,
    attempts: i32,
    attempt: &Attempt,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let (status, error, http_status) = match attempt {
        Attempt::Delivered { http_status } => (DELIVERED, None, *http_status),
        Attempt::Retryable {
            error, http_status, ..
        } => ("RETRYING", Some(error.clone()), *http_status),
        Attempt::Permanent { error, http_status } => (FAILED, Some(error.clone()), *http_status),
    };
    let row = deliveries::ActiveModel {
        id: Set(Uuid::new_v4()),
        notification_id: Set(notification_id),
        endpoint_id: Set(target.endpoint_id),
        kind: Set(target.kind.as_str().to_owned()),
        target: Set(target.value.clone()),
        status: Set(status.to_owned()),
        attempts: Set(attempts),
        last_error: Set(error),
        last_http_status: Set(http_status.map(i32::from)),
        delivered_at: Set(matches!(attempt, Attempt::Delivered { .. }).then_some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    deliveries::Entity::insert(row)
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
    Ok(())
}

/// One endpoint, one round: attempts until delivered, refused for good, or out of
/// attempts. True when delivered.
async fn deliver_to<C: ConnectionTrait>(
    db: &C,
    channel: &dyn Channel,
    policy: &DeliveryPolicy,
    limits: &DeliveryLimits,
    payload: &NotificationPayload,
    target: &Target,
    attempts_before: i32,
) -> Result<bool, DbErr> {
    let key = idempotency_key(payload.notification_id, target.endpoint_id);
    for attempt in 1..=policy.max_attempts {
        let outcome = {
            // Bounded concurrency across every delivery of the process; a permit is
            // held for the attempt only, never across a backoff.
            let _permits = limits.acquire(&target.value).await;
            channel.deliver(payload, target, &key).await
        };
        let total = attempts_before.saturating_add(attempt as i32);
        let last = attempt == policy.max_attempts;
        let recorded = match (&outcome, last) {
            (
                Attempt::Retryable {
                    error, http_status, ..
                },
                true,
            ) => Attempt::Permanent {
                error: format!("gave up after {} attempts: {error}", policy.max_attempts),
                http_status: *http_status,
            },
            _ => outcome.clone(),
        };
        record(db, payload.notification_id, target, total, &recorded).await?;
        match outcome {
            Attempt::Delivered { .. } => return Ok(true),
            Attempt::Permanent { error, .. } => {
                tracing::warn!(notification_id = %payload.notification_id, endpoint_id = %target.endpoint_id, %error, "delivery failed for good");
                return Ok(false);
            }
            Attempt::Retryable {
                error, retry_after, ..
            } => {
                if last {
                    tracing::warn!(notification_id = %payload.notification_id, endpoint_id = %target.endpoint_id, %error, attempts = total, "delivery gave up");
                    return Ok(false);
                }
                let delay = policy.delay(attempt, retry_after);
                tracing::debug!(notification_id = %payload.notification_id, %error, retry_in_ms = delay.as_millis() as u64, "delivery will be retried");
                tokio::time::sleep(delay).await;
            }
        }
    }
    Ok(false)
}

/// Delivers a notification to every endpoint that still needs it.
pub async fn send_notification<C: ConnectionTrait>(
    db: &C,
    channel: &dyn Channel,
    policy: &DeliveryPolicy,
    limits: &DeliveryLimits,
    notification_id: Uuid,
) -> Result<SendOutcome, DbErr> {
    let Some(row) = notifications::Entity::find_by_id(notification_id)
        .one(db)
        .await?
    else {
        return Ok(SendOutcome::Skipped);
    };
    if row.status == NotificationStatus::Sent.as_str()
        || row.status == NotificationStatus::NoEndpoints.as_str()
    {
        return Ok(SendOutcome::Skipped);
    }
    let payload = payload(&row);
    let targets = targets(db, &payload.rule_ids).await?;
    if targets.is_empty() {
        set_status(db, row.id, NotificationStatus::NoEndpoints).await?;
        return Ok(SendOutcome::Finished(NotificationStatus::NoEndpoints));
    }
    let done: HashMap<Uuid, deliveries::Model> = deliveries::Entity::find()
        .filter(deliveries::Column::NotificationId.eq(row.id))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.endpoint_id, d))
        .collect();
    let mut delivered = 0;
    let mut pending = Vec::new();
    for target in &targets {
        match done.get(&target.endpoint_id) {
            Some(previous) if previous.status == DELIVERED => delivered += 1,
            previous => {
                let attempts_before = previous.map_or(0, |p| p.attempts);
                pending.push(deliver_to(
                    db,
                    channel,
                    policy,
                    limits,
                    &payload,
                    target,
                    attempts_before,
                ));
            }
        }
    }
    for result in join_all(pending).await {
        if result? {
            delivered += 1;
        }
    }
    let status = if delivered == targets.len() {
        NotificationStatus::Sent
    } else if delivered == 0 {
        NotificationStatus::Failed
    } else {
        NotificationStatus::Partial
    };
    set_status(db, row.id, status).await?;
    Ok(SendOutcome::Finished(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let policy = DeliveryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
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
