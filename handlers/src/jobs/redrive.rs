//! Re-announcing notifications: one on request (FAILED or PARTIAL, only its
//! undelivered endpoints are tried again), or every notification stuck undelivered
//! for longer than a threshold (a crash after its insert and before any delivery), or
//! whose repeat or resolution is (a crash after it was due and before it was announced).

use std::time::Duration;

use alerting_entities::notifications;
use chrono::Utc;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    domain::NotificationStatus,
    events::NotificationReadyEvent,
    ports::{Bus, BusError},
};

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("notification {0} not found")]
    NotFound(Uuid),
    #[error(
        "notification {id} is {status}; only FAILED or PARTIAL notifications still open are retried"
    )]
    NotRetryable { id: Uuid, status: String },
    #[error(transparent)]
    Database(#[from] DbErr),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Puts a FAILED or PARTIAL notification back to PENDING and announces it again.
pub async fn retry<C: ConnectionTrait>(
    db: &C,
    bus: &dyn Bus,
    id: Uuid,
) -> Result<notifications::Model, RedriveError> {
    let row = notifications::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(RedriveError::NotFound(id))?;
    let retryable = [NotificationStatus::Failed, NotificationStatus::Partial]
        .iter()
        .any(|s| s.as_str() == row.status);
    if !retryable {
        return Err(RedriveError::NotRetryable {
            id,
            status: row.status,
        });
    }
    // Over already: its endpoints would get the problem after its end.
    if row.resolved_at.is_some() {
        return Err(RedriveError::NotRetryable {
            id,
            status: format!("{} and resolved", row.status),
        });
    }
    let now = Utc::now();
    let updated = notifications::Entity::update_many()
        .col_expr(
            notifications::Column::Status,
            Expr::value(NotificationStatus::Pending.as_str()),
        )
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::Status.eq(row.status.clone()))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        // Someone else moved it meanwhile; say what it is now.
        let status = notifications::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|r| r.status)
            .unwrap_or_default();
        return Err(RedriveError::NotRetryable { id, status });
    }
    bus.publish(vec![NotificationReadyEvent::message(
        row.id,
        &row.client_id,
        &row.alert_id,
    )])
    .await?;
    Ok(notifications::Model {
        status: NotificationStatus::Pending.as_str().to_owned(),
        updated_at: now,
        ..row
    })
}

/// Notifications announced again per statement; a redrive takes batches until none is
/// left.
pub const BATCH: u64 = 1_000;

/// Announces again every notification PENDING (or whose repeat or resolution is) for longer
/// than `older_than`, a [`BATCH`] at a time; returns how many.
pub async fn redrive_all_stuck<C: ConnectionTrait>(
    db: &C,
    bus: &dyn Bus,
    older_than: Duration,
) -> Result<usize, RedriveError> {
    let mut total = 0;
    loop {
        let count = redrive_stuck(db, bus, older_than, BATCH).await?;
        total += count;
        if (count as u64) < BATCH {
            return Ok(total);
        }
    }
}

/// Announces again up to `limit` notifications PENDING (or whose repeat or resolution is) for
/// longer than `older_than`; returns how many.
pub async fn redrive_stuck<C: ConnectionTrait>(
    db: &C,
    bus: &dyn Bus,
    older_than: Duration,
    limit: u64,
) -> Result<usize, RedriveError> {
    let cutoff = Utc::now() - chrono::Duration::from_std(older_than).unwrap_or_default();
    let stuck = notifications::Entity::find()
        .filter(undelivered())
        .filter(notifications::Column::UpdatedAt.lt(cutoff))
        .order_by_asc(notifications::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await?;
    if stuck.is_empty() {
        return Ok(0);
    }
    bus.publish(
        stuck
            .iter()
            .map(|row| NotificationReadyEvent::message(row.id, &row.client_id, &row.alert_id))
            .collect(),
    )
    .await?;
    // Touched, so the next run waits a whole threshold before announcing them again.
    notifications::Entity::update_many()
        .col_expr(notifications::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(notifications::Column::Id.is_in(stuck.iter().map(|r| r.id)))
        .filter(undelivered())
        .exec(db)
        .await?;
    Ok(stuck.len())
}

/// A notification with something still to deliver: itself (PENDING), a repeat, or its
/// resolution. The last two are spelled out, not bound, so that Postgres can use the
/// partial indexes of pending repeats and resolutions.
fn undelivered() -> Condition {
    Condition::any()
        .add(notifications::Column::Status.eq(NotificationStatus::Pending.as_str()))
        .add(Expr::cust(r#""repeat_status" = 'PENDING'"#))
        .add(Expr::cust(r#""resolution_status" = 'PENDING'"#))
}
