//! Resolving: a client's open notification with a dedup key is over. A resolved alert
//! with the key does it (in the aggregator, in the order the alerts were sent), so
//! does a person (the API) or a rule's `auto_resolve_after`. Resolving frees the key
//! (`open_key` goes, so the next firing alert opens a new notification), records when
//! and by what, and marks the resolution PENDING: the sender delivers it to every
//! endpoint that took the firing notification, and the redrive announces it again if
//! a crash cut its announcement short.

use alerting_entities::{notifications, occurrences};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionSession, TransactionTrait, TryInsertResult, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    domain::NotificationStatus, events::AlertMatchedEvent, events::NotificationReadyEvent,
    ports::OutgoingMessage,
};

/// What resolved a notification, as `resolved_by` records it.
pub fn by_alert(alert_id: &str) -> String {
    format!("alert {alert_id}")
}

/// The column values that resolve a notification.
fn resolving(
    update: sea_orm::UpdateMany<notifications::Entity>,
    by: &str,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<notifications::Entity> {
    update
        .col_expr(notifications::Column::OpenKey, Expr::value(None::<String>))
        .col_expr(notifications::Column::ResolvedAt, Expr::value(now))
        .col_expr(notifications::Column::ResolvedBy, Expr::value(by))
        .col_expr(
            notifications::Column::ResolutionStatus,
            Expr::value(NotificationStatus::Pending.as_str()),
        )
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
}

/// Resolves the client's open notification with `key`, if there is one; returns it.
pub async fn resolve_key<C: ConnectionTrait>(
    db: &C,
    client_id: &str,
    key: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<notifications::Model>, DbErr> {
    let update = notifications::Entity::update_many()
        .filter(notifications::Column::ClientId.eq(client_id))
        .filter(notifications::Column::OpenKey.eq(key));
    Ok(resolving(update, by, now)
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next())
}

/// Resolves the notification `id` unless it is resolved already; returns it if this
/// call resolved it.
pub async fn resolve_id<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<notifications::Model>, DbErr> {
    let update = notifications::Entity::update_many()
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::ResolvedAt.is_null());
    Ok(resolving(update, by, now)
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next())
}

/// The announcement that a notification's resolution is to be delivered.
pub fn announce(row: &notifications::Model) -> OutgoingMessage {
    tracing::debug!(notification_id = %row.id, client_id = %row.client_id, resolved_by = row.resolved_by.as_deref().unwrap_or_default(), "notification resolved");
    NotificationReadyEvent::message(row.id, &row.client_id, &row.alert_id)
}

/// Resolves what each resolved match names, in order; returns the announcements. A
/// resolve with nothing open to resolve (never opened, or resolved already) changes
/// nothing. The resolving alert is recorded as an occurrence of what it resolved, in
/// the same transaction: so a redelivered resolve, finding its alert recorded, leaves
/// alone the notification its key has opened since.
pub async fn resolve_matches<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    resolves: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let mut announcements = Vec::new();
    for matched in resolves {
        let Some(key) = matched.alert.dedup_key.as_deref() else {
            continue;
        };
        let by = by_alert(&matched.alert.alert_id);
        let transaction = db.begin().await?;
        let Some(row) = resolve_key(&transaction, &matched.client_id, key, &by, now).await? else {
            transaction.commit().await?;
            continue;
        };
        let recorded = occurrences::Entity::insert(
            occurrences::Model {
                client_id: matched.client_id.clone(),
                alert_id: matched.alert.alert_id.clone(),
                notification_id: row.id,
                event_ts: matched.alert.event_ts,
                seen_at: now,
            }
            .into_active_model(),
        )
        .on_conflict_do_nothing()
        .exec_without_returning(&transaction)
        .await?;
        if matches!(recorded, TryInsertResult::Inserted(n) if n > 0) {
            transaction.commit().await?;
            announcements.push(announce(&row));
        } else {
            tracing::debug!(client_id = %matched.client_id, alert_id = %matched.alert.alert_id, "resolve applied before: left alone");
            transaction.rollback().await?;
        }
    }
    crate::metrics::metrics()
        .notifications_resolved
        .add(announcements.len() as u64);
    Ok(announcements)
}
