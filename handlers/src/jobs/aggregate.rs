//! The aggregator's handler: a batch of matches in, one notification row per
//! (client, alert) out (one statement, `ON CONFLICT DO NOTHING RETURNING id`), or per
//! (client, dedup key) while one is open (the rest fold into it: `fold`), and a
//! `notifications.ready` for every row of the batch that is still undelivered. New rows
//! are, and so is a row whose first announcement a crash cut short (found by a second
//! query, only when the batch held rows stored before): nothing strands.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use alerting_entities::{clients, notifications};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, TransactionSession, TransactionTrait, TryInsertResult,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    ROWS_PER_STATEMENT,
    index_lookups::{all_with_keys, prefer_index_lookups},
};
use crate::{
    domain::NotificationStatus,
    events::{AlertMatchedEvent, NotificationReadyEvent},
    ports::OutgoingMessage,
};

/// Whether a match may become a notification: an alert with an owner is its owner's
/// alone. The evaluator matches it against its owner's rules only; this is the second
/// lock on the same door, for a match that did not come from our evaluator.
fn belongs(matched: &AlertMatchedEvent) -> bool {
    let owner = matched.alert.owner.as_deref();
    let ok = owner.is_none_or(|owner| owner == matched.client_id);
    if !ok {
        tracing::warn!(client_id = %matched.client_id, alert_id = %matched.alert.alert_id, "match of another client's alert dropped");
    }
    ok
}

/// Stores the notifications of `matches`; returns the announcements to publish.
pub async fn aggregate<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    matches: &[AlertMatchedEvent],
) -> Result<Vec<OutgoingMessage>, DbErr> {
    if matches.is_empty() {
        return Ok(Vec::new());
    }
    let kept: Vec<&AlertMatchedEvent> = matches.iter().filter(|m| belongs(m)).collect();
    // A client deleted since the match has nobody left to notify.
    let wanted: BTreeSet<&str> = kept.iter().map(|m| m.client_id.as_str()).collect();
    let existing: HashSet<String> = clients::Entity::find()
        .select_only()
        .column(clients::Column::Id)
        .filter(clients::Column::Id.is_in(wanted.iter().copied()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();

    let now = Utc::now();
    let mut rows: BTreeMap<(String, String), notifications::Model> = BTreeMap::new();
    // The first alert of a (client, dedup key) in the batch may open a notification;
    // the rest of the batch's alerts with that key fold into whichever is open.
    let mut opening: HashSet<(&str, &str)> = HashSet::new();
    for matched in &kept {
        if !existing.contains(&matched.client_id) {
            tracing::info!(client_id = %matched.client_id, alert_id = %matched.alert.alert_id, "match for a deleted client dropped");
            continue;
        }
        let key = (matched.client_id.clone(), matched.alert.alert_id.clone());
        let dedup_key = matched.alert.dedup_key.as_deref();
        if let Some(dedup_key) = dedup_key
            && !rows.contains_key(&key)
            && !opening.insert((matched.client_id.as_str(), dedup_key))
        {
            continue;
        }
        rows.entry(key).or_insert_with(|| notifications::Model {
            // Time-ordered, so each insert lands at the right edge of the id indexes.
            id: Uuid::now_v7(),
            client_id: matched.client_id.clone(),
            alert_id: matched.alert.alert_id.clone(),
            severity: matched.alert.severity.clone(),
            source: matched.alert.source.clone(),
            name: matched.alert.name.clone(),
            context: serde_json::to_value(&matched.alert.context).unwrap_or_default(),
            event_ts: matched.alert.event_ts,
            rule_ids: serde_json::to_value(&matched.rule_ids).unwrap_or_default(),
            status: NotificationStatus::Pending.as_str().to_owned(),
            shared: matched.alert.owner.is_none(),
            created_at: now,
            updated_at: now,
            dedup_key: dedup_key.map(str::to_owned),
            open_key: dedup_key.map(str::to_owned),
            occurrences: 1,
            first_seen_at: Some(now),
            last_seen_at: Some(now),
        });
    }
    let models: Vec<notifications::Model> = rows.into_values().collect();
    // The ids of the rows this batch inserted; a row it did not insert existed already.
    let mut inserted: HashSet<Uuid> = HashSet::with_capacity(models.len());
    for chunk in models.chunks(ROWS_PER_STATEMENT) {
        let result = notifications::Entity::insert_many(
            chunk
                .iter()
                .map(|m| m.clone().into_active_model().reset_all()),
        )
        // Either unique index may refuse a row: (client, alert), a redelivery; or
        // (client, open key), an open notification with the key exists (folded below).
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .try_insert()
        .exec_with_returning_keys(db)
        .await?;
        if let TryInsertResult::Inserted(ids) = result {
            inserted.extend(ids);
        }
    }
    let mut announcements: Vec<OutgoingMessage> = models
        .iter()
        .filter(|m| inserted.contains(&m.id))
        .map(|m| {
            tracing::debug!(notification_id = %m.id, alert_id = %m.alert_id, client_id = %m.client_id, "notification created");
            NotificationReadyEvent::message(m.id, &m.client_id, &m.alert_id)
        })
        .collect();

    let stored: Vec<&AlertMatchedEvent> = kept
        .iter()
        .copied()
        .filter(|m| existing.contains(&m.client_id))
        .collect();
    let folded = super::fold::fold(db, &stored, now).await?;
    if folded > 0 {
        tracing::debug!(folded, "alerts folded into open notifications");
    }

    let metrics = crate::metrics::metrics();
    metrics.notifications_created.add(inserted.len() as u64);
    let stored_matches = kept
        .iter()
        .filter(|m| existing.contains(&m.client_id))
        .count();
    metrics
        .notifications_deduplicated
        .add(stored_matches.saturating_sub(inserted.len()) as u64);

    // Rows stored before (a redelivered match): announce those still undelivered.
    let earlier: Vec<&notifications::Model> = models
        .iter()
        .filter(|m| !inserted.contains(&m.id))
        .collect();
    let pairs: HashSet<(&str, &str)> = earlier
        .iter()
        .map(|m| (m.client_id.as_str(), m.alert_id.as_str()))
        .collect();
    let alert_ids: Vec<&str> = earlier
        .iter()
        .map(|m| m.alert_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored = if alert_ids.is_empty() {
        Vec::new()
    } else if db.get_database_backend() == DbBackend::Postgres {
        // Redeliveries come in bulk after a crash, the very time a scan of the whole
        // table per batch would hold the catch-up back.
        let reads = db.begin().await?;
        prefer_index_lookups(&reads).await?;
        let stored = stored_by_alert(&reads, &alert_ids).await?;
        reads.commit().await?;
        stored
    } else {
        stored_by_alert(db, &alert_ids).await?
    };
    for row in stored {
        if pairs.contains(&(row.client_id.as_str(), row.alert_id.as_str()))
            && row.status == NotificationStatus::Pending.as_str()
        {
            announcements.push(NotificationReadyEvent::message(
                row.id,
                &row.client_id,
                &row.alert_id,
            ));
        }
    }
    Ok(announcements)
}

/// The stored notifications of these alerts (of any client).
async fn stored_by_alert<C: ConnectionTrait>(
    db: &C,
    alert_ids: &[&str],
) -> Result<Vec<notifications::Model>, DbErr> {
    all_with_keys(
        db,
        notifications::Entity::find(),
        notifications::Column::AlertId,
        alert_ids,
    )
    .await
}
