//! Resolving: a client's open notification with a dedup key is over. A resolved alert
//! with the key does it (in the aggregator, in the order the alerts were sent), and so
//! does a person (the API). Resolving frees the key
//! (`open_key` goes, so the next firing alert opens a new notification), records when
//! and by what, and marks the resolution PENDING: the sender delivers it to every
//! endpoint that took the firing notification, and the redrive announces it again if
//! a crash cut its announcement short.

use alerting_entities::{notifications, resolves};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionSession, TransactionTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait, SimpleExpr},
};
use uuid::Uuid;

use super::index_lookups::stored_pairs;
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
    by: impl Into<SimpleExpr>,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<notifications::Entity> {
    update
        .col_expr(notifications::Column::OpenKey, Expr::value(None::<String>))
        .col_expr(notifications::Column::ResolvedAt, Expr::value(now))
        .col_expr(notifications::Column::ResolvedBy, by.into())
        .col_expr(
            notifications::Column::ResolutionStatus,
            Expr::value(NotificationStatus::Pending.as_str()),
        )
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            notifications::Column::NextRepeatAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(notifications::Column::RepeatStatus, not_repeating())
}

/// A resolved notification repeats no more: a repeat still to deliver is dropped (the
/// resolution goes instead), the status of one delivered stays.
pub(crate) fn not_repeating() -> SimpleExpr {
    Expr::cust(r#"CASE WHEN "repeat_status" = 'PENDING' THEN NULL ELSE "repeat_status" END"#)
}

/// Resolves the notification `id` if it is open and has had no occurrence since it was
/// read with `occurrences` (an alert folded into it meanwhile keeps it open); returns it
/// if this call resolved it.
pub async fn resolve_quiet<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    occurrences: i32,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<notifications::Model>, DbErr> {
    let update = notifications::Entity::update_many()
        .filter(notifications::Column::Id.eq(id))
        .filter(notifications::Column::ResolvedAt.is_null())
        .filter(notifications::Column::Occurrences.eq(occurrences));
    Ok(resolving(update, Expr::value(by), now)
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next())
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
    Ok(resolving(update, Expr::value(by), now)
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
    Ok(resolving(update, Expr::value(by), now)
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

/// Resolves what each resolved match names; returns the announcements. Every resolved
/// alert applied is recorded in `resolves` (with what it closed, if anything), in the
/// transaction that applies it: a redelivered one finds its record and changes
/// nothing, so it never closes a notification its key opened since. A resolve with
/// nothing open changes nothing else. A round's resolves (never two runs of one key)
/// are applied together, a few statements and one commit for all.
pub async fn resolve_matches<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    resolves: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let fresh = fresh(db, resolves).await?;
    let mut announcements = Vec::new();
    for chunk in fresh.chunks(RESOLVES_PER_STATEMENT) {
        match resolve_together(db, chunk, now).await? {
            Some(rows) => announcements.extend(rows.iter().map(announce)),
            // One of them was applied meanwhile (another aggregator, a redelivery):
            // one at a time, each on its own.
            None => {
                for matched in chunk {
                    announcements.extend(resolve_one(db, matched, now).await?);
                }
            }
        }
    }
    crate::metrics::metrics()
        .notifications_resolved
        .add(announcements.len() as u64);
    Ok(announcements)
}

/// Resolves what each resolved match names, in `transaction`, the one that also stores
/// the round's firing alerts (one commit for both); returns the announcements. One
/// applied meanwhile by another aggregator (a rebalance) fails the batch, to be applied
/// again: then it is found applied, and skipped.
pub async fn resolve_within<C: ConnectionTrait>(
    transaction: &C,
    resolves: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let fresh = fresh(transaction, resolves).await?;
    let mut announcements = Vec::new();
    for chunk in fresh.chunks(RESOLVES_PER_STATEMENT) {
        let Some(rows) = apply_together(transaction, chunk, now).await? else {
            return Err(DbErr::Custom(
                "a resolve was applied by another aggregator meanwhile; the batch is applied again"
                    .to_owned(),
            ));
        };
        announcements.extend(rows.iter().map(announce));
    }
    crate::metrics::metrics()
        .notifications_resolved
        .add(announcements.len() as u64);
    Ok(announcements)
}

/// The resolves of `resolves` not applied before, each once.
async fn fresh<'a, C: ConnectionTrait>(
    db: &C,
    resolves: &[&'a AlertMatchedEvent],
) -> Result<Vec<&'a AlertMatchedEvent>, DbErr> {
    let applied = applied_before(
        db,
        resolves
            .iter()
            .map(|m| (m.client_id.as_str(), m.alert.alert_id.as_str())),
    )
    .await?;
    let mut seen = HashSet::new();
    Ok(resolves
        .iter()
        .copied()
        .filter(|m| {
            let pair = (m.client_id.clone(), m.alert.alert_id.clone());
            m.alert.dedup_key.is_some() && !applied.contains(&pair) && seen.insert(pair)
        })
        .collect())
}

/// Resolves per statement: each is a few bound values in two conditions.
const RESOLVES_PER_STATEMENT: usize = 100;

/// Which of these (client, alert) resolves were applied before.
async fn applied_before<'a, C: ConnectionTrait>(
    db: &C,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<HashSet<(String, String)>, DbErr> {
    stored_pairs::<resolves::Entity, _>(
        db,
        resolves::Column::ClientId,
        resolves::Column::AlertId,
        pairs,
        |r| (r.client_id, r.alert_id),
    )
    .await
}

/// The record of a resolve applied now.
fn record(
    matched: &AlertMatchedEvent,
    closed: Option<Uuid>,
    now: DateTime<Utc>,
) -> resolves::ActiveModel {
    resolves::Model {
        client_id: matched.client_id.clone(),
        alert_id: matched.alert.alert_id.clone(),
        notification_id: closed,
        seen_at: now,
    }
    .into_active_model()
}

/// Applies the resolves of `chunk` (each a different alert) in a transaction of their
/// own: each key's first closes its open notification; every one is recorded. `None`,
/// and nothing changed, if one was recorded already.
async fn resolve_together<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    chunk: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Option<Vec<notifications::Model>>, DbErr> {
    let transaction = db.begin().await?;
    match apply_together(&transaction, chunk, now).await? {
        Some(rows) => {
            transaction.commit().await?;
            Ok(Some(rows))
        }
        None => {
            transaction.rollback().await?;
            Ok(None)
        }
    }
}

/// Applies the resolves of `chunk` in `transaction`: each key's first closes its open
/// notification; every one is recorded. `None` if one was recorded already (the caller
/// rolls back).
async fn apply_together<C: ConnectionTrait>(
    transaction: &C,
    chunk: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Option<Vec<notifications::Model>>, DbErr> {
    let mut keys = HashSet::new();
    let firsts: Vec<&AlertMatchedEvent> = chunk
        .iter()
        .copied()
        .filter(|m| keys.insert((m.client_id.as_str(), m.alert.dedup_key.as_deref())))
        .collect();
    let pair = |m: &AlertMatchedEvent| {
        Condition::all()
            .add(Expr::col(notifications::Column::ClientId).eq(m.client_id.as_str()))
            .add(Expr::col(notifications::Column::OpenKey).eq(m.alert.dedup_key.as_deref()))
    };
    let (Some(first), rest) = (firsts.first(), firsts.get(1..).unwrap_or_default()) else {
        return Ok(Some(Vec::new()));
    };
    let resolved_by = rest
        .iter()
        .fold(
            Expr::case(pair(first), by_alert(&first.alert.alert_id)),
            |case, m| case.case(pair(m), by_alert(&m.alert.alert_id)),
        )
        .finally(Expr::col(notifications::Column::ResolvedBy));
    let which = firsts
        .iter()
        .fold(Condition::any(), |any, m| any.add(pair(m)));
    let update = notifications::Entity::update_many().filter(which);
    let rows = resolving(update, resolved_by, now)
        .exec_with_returning(transaction)
        .await?;
    let closed: HashMap<(&str, Option<&str>), Uuid> = rows
        .iter()
        .map(|row| ((row.client_id.as_str(), row.dedup_key.as_deref()), row.id))
        .collect();
    let records: Vec<resolves::ActiveModel> = chunk
        .iter()
        .map(|m| {
            let first = firsts
                .iter()
                .any(|f| f.alert.alert_id == m.alert.alert_id && f.client_id == m.client_id);
            let key = (m.client_id.as_str(), m.alert.dedup_key.as_deref());
            record(m, closed.get(&key).copied().filter(|_| first), now)
        })
        .collect();
    let recorded = match resolves::Entity::insert_many(records)
        .on_conflict_do_nothing()
        .exec_with_returning_many(transaction)
        .await?
    {
        TryInsertResult::Inserted(stored) => stored.len(),
        _ => 0,
    };
    Ok((recorded == chunk.len()).then_some(rows))
}

/// Applies one resolve in a transaction of its own: closes what it names, if open, and
/// records it; changes nothing if it was recorded already.
async fn resolve_one<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    matched: &AlertMatchedEvent,
    now: DateTime<Utc>,
) -> Result<Option<OutgoingMessage>, DbErr> {
    let Some(key) = matched.alert.dedup_key.as_deref() else {
        return Ok(None);
    };
    let by = by_alert(&matched.alert.alert_id);
    let transaction = db.begin().await?;
    let row = resolve_key(&transaction, &matched.client_id, key, &by, now).await?;
    let recorded = resolves::Entity::insert(record(matched, row.as_ref().map(|r| r.id), now))
        .on_conflict_do_nothing()
        .exec_without_returning(&transaction)
        .await?;
    if matches!(recorded, TryInsertResult::Inserted(n) if n > 0) {
        transaction.commit().await?;
        Ok(row.as_ref().map(announce))
    } else {
        tracing::debug!(client_id = %matched.client_id, alert_id = %matched.alert.alert_id, "resolve applied before: left alone");
        transaction.rollback().await?;
        Ok(None)
    }
}
