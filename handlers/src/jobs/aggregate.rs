//! The aggregator's handler: a batch of matches in, one notification row per
//! (client, alert) out (one statement, `ON CONFLICT DO NOTHING RETURNING id`), or per
//! (client, dedup key) while one is open (the rest fold into it: `fold`), and a
//! `notifications.ready` for every row of the batch that is still undelivered. New rows
//! are, and so is a row whose first announcement a crash cut short (found by a second
//! query, only when the batch held rows stored before): nothing strands. Resolved
//! alerts resolve their key's open notification (`resolve`), in the order they came:
//! a batch is cut where a key turns from firing to resolved or back.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use alerting_entities::{clients, notifications};
use chrono::{DateTime, Utc};
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

/// Stores the notifications of `matches` and applies their resolves, in order; returns
/// the announcements to publish.
pub async fn aggregate<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    matches: &[AlertMatchedEvent],
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let kept: Vec<&AlertMatchedEvent> = matches.iter().filter(|m| belongs(m)).collect();
    let mut announcements = Vec::new();
    for segment in segments(&kept) {
        announcements.extend(store(db, &segment.firing).await?);
        if !segment.resolved.is_empty() {
            announcements
                .extend(super::resolve::resolve_matches(db, &segment.resolved, Utc::now()).await?);
        }
    }
    Ok(announcements)
}

/// A run of a batch in which no (client, dedup key) is both firing and resolved, so
/// its firing alerts can be stored together and its resolves applied after them.
#[derive(Default)]
struct Segment<'a> {
    firing: Vec<&'a AlertMatchedEvent>,
    resolved: Vec<&'a AlertMatchedEvent>,
    firing_keys: HashSet<(&'a str, &'a str)>,
    resolved_keys: HashSet<(&'a str, &'a str)>,
}

/// Cuts `matches` where a key's alerts turn from firing to resolved or back: a batch
/// holding a key's firing alert and then its resolve (or a resolve and then the key
/// firing again) applies them in that order. Most batches are one segment.
fn segments<'a>(matches: &[&'a AlertMatchedEvent]) -> Vec<Segment<'a>> {
    let mut done = Vec::new();
    let mut current = Segment::default();
    for matched in matches {
        let key = matched
            .alert
            .dedup_key
            .as_deref()
            .map(|key| (matched.client_id.as_str(), key));
        let resolved = !matched.alert.status.is_firing();
        let turns = key.is_some_and(|key| {
            if resolved {
                current.firing_keys.contains(&key)
            } else {
                current.resolved_keys.contains(&key)
            }
        });
        if turns {
            done.push(std::mem::take(&mut current));
        }
        match (resolved, key) {
            (true, Some(key)) => {
                current.resolved_keys.insert(key);
                current.resolved.push(matched);
            }
            // A resolve without a key never passes validation; nothing to resolve.
            (true, None) => {}
            (false, key) => {
                current.firing_keys.extend(key);
                current.firing.push(matched);
            }
        }
    }
    done.push(current);
    done
}

/// Stores the notifications of firing `matches`; returns the announcements to publish.
async fn store<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    kept: &[&AlertMatchedEvent],
) -> Result<Vec<OutgoingMessage>, DbErr> {
    if kept.is_empty() {
        return Ok(Vec::new());
    }
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
    let stored: Vec<&AlertMatchedEvent> = kept
        .iter()
        .copied()
        .filter(|m| {
            let client = existing.contains(&m.client_id);
            if !client {
                tracing::info!(client_id = %m.client_id, alert_id = %m.alert.alert_id, "match for a deleted client dropped");
            }
            client
        })
        .collect();
    let models = without_occurrences(db, rows_of(&stored, now)).await?;
    // The ids of the rows this batch inserted; a row it did not insert existed already.
    let mut inserted = insert(db, &models).await?;
    let mut announcements: Vec<OutgoingMessage> = announce(&models, &inserted);

    // Alerts with a key fold into their client's open notification. One whose opener
    // was refused for another reason (its alert was stored before) finds none open:
    // the first of those opens one, and the rest fold into it.
    let mut folded = super::fold::fold(db, &stored, now).await?;
    for _ in 0..MAX_OPENING_ROUNDS {
        if folded.unopened.is_empty() {
            break;
        }
        let openers = rows_of(&folded.unopened, now);
        let opened = insert(db, &openers).await?;
        announcements.extend(announce(&openers, &opened));
        inserted.extend(opened);
        let again = super::fold::fold(db, &folded.unopened, now).await?;
        folded = super::fold::Folded {
            occurrences: folded.occurrences + again.occurrences,
            unopened: again.unopened,
        };
    }
    if folded.occurrences > 0 {
        tracing::debug!(
            folded = folded.occurrences,
            "alerts folded into open notifications"
        );
    }

    let metrics = crate::metrics::metrics();
    metrics.notifications_created.add(inserted.len() as u64);
    metrics
        .notifications_deduplicated
        .add(stored.len().saturating_sub(inserted.len()) as u64);

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

/// Rounds of opening after the first insert: one is enough unless notifications keep
/// closing under the batch; a bound, so a batch always ends.
const MAX_OPENING_ROUNDS: usize = 3;

/// A notification row per (client, alert) of `matches`, and per (client, dedup key):
/// the first alert with a key may open a notification, the rest fold into it.
fn rows_of(matches: &[&AlertMatchedEvent], now: DateTime<Utc>) -> Vec<notifications::Model> {
    let mut rows: BTreeMap<(String, String), notifications::Model> = BTreeMap::new();
    let mut opening: HashSet<(&str, &str)> = HashSet::new();
    for matched in matches {
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
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            resolution_status: None,
            silenced_by: None,
        });
    }
    rows.into_values().collect()
}

/// `models` without the keyed ones whose alert is an occurrence already: a
/// redelivered alert that folded into a notification since resolved opens nothing.
async fn without_occurrences<C: ConnectionTrait>(
    db: &C,
    models: Vec<notifications::Model>,
) -> Result<Vec<notifications::Model>, DbErr> {
    let keyed = models
        .iter()
        .filter(|m| m.dedup_key.is_some())
        .map(|m| (m.client_id.as_str(), m.alert_id.as_str()));
    let counted = super::fold::counted(db, keyed).await?;
    if counted.is_empty() {
        return Ok(models);
    }
    Ok(models
        .into_iter()
        .filter(|m| !counted.contains(&(m.client_id.clone(), m.alert_id.clone())))
        .collect())
}

/// Inserts `models`, a statement per [`ROWS_PER_STATEMENT`]; returns the ids stored.
async fn insert<C: ConnectionTrait>(
    db: &C,
    models: &[notifications::Model],
) -> Result<HashSet<Uuid>, DbErr> {
    let mut inserted: HashSet<Uuid> = HashSet::with_capacity(models.len());
    for chunk in models.chunks(ROWS_PER_STATEMENT) {
        let result = notifications::Entity::insert_many(
            chunk
                .iter()
                .map(|m| m.clone().into_active_model().reset_all()),
        )
        // Either unique index may refuse a row: (client, alert), a redelivery; or
        // (client, open key), an open notification with the key exists (folded).
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .try_insert()
        .exec_with_returning_keys(db)
        .await?;
        if let TryInsertResult::Inserted(ids) = result {
            inserted.extend(ids);
        }
    }
    Ok(inserted)
}

/// A `notifications.ready` for each of `models` that was `inserted`.
fn announce(models: &[notifications::Model], inserted: &HashSet<Uuid>) -> Vec<OutgoingMessage> {
    models
        .iter()
        .filter(|m| inserted.contains(&m.id))
        .map(|m| {
            tracing::debug!(notification_id = %m.id, alert_id = %m.alert_id, client_id = %m.client_id, "notification created");
            NotificationReadyEvent::message(m.id, &m.client_id, &m.alert_id)
        })
        .collect()
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
