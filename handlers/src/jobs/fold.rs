//! Folding: an alert with a dedup key whose client already has an open notification
//! with that key becomes an occurrence of it instead of a notification of its own (no
//! delivery). The occurrence is a row keyed by (client, alert), so a redelivered alert
//! counts once; the row and the notification's count move in one transaction, so a
//! crash between them cannot leave one without the other.

use std::collections::{BTreeMap, HashMap, HashSet};

use alerting_entities::{notifications, occurrences};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{ROWS_PER_STATEMENT, index_lookups::all_with_keys};
use crate::events::AlertMatchedEvent;

/// Folds every keyed match in `matches` whose alert is not the open notification's
/// own into that notification; returns how many were new occurrences.
pub async fn fold<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    matches: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let keyed: Vec<(&AlertMatchedEvent, &str)> = matches
        .iter()
        .filter_map(|m| m.alert.dedup_key.as_deref().map(|key| (*m, key)))
        .collect();
    if keyed.is_empty() {
        return Ok(0);
    }
    // The open notification of each (client, key) of the batch: the one stored now or
    // before, whichever won the unique index.
    let keys: Vec<String> = keyed
        .iter()
        .map(|(_, key)| (*key).to_owned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let open: HashMap<(String, String), Uuid> = all_with_keys(
        db,
        notifications::Entity::find(),
        notifications::Column::OpenKey,
        &keys,
    )
    .await?
    .into_iter()
    .filter_map(|n| Some(((n.client_id, n.open_key?), n.id)))
    .collect();
    // A match whose alert has a notification of its own is that notification's
    // redelivery, not an occurrence of another.
    let alert_ids: Vec<String> = keyed
        .iter()
        .map(|(m, _)| m.alert.alert_id.clone())
        .collect();
    let own: HashSet<(String, String)> = all_with_keys(
        db,
        notifications::Entity::find(),
        notifications::Column::AlertId,
        &alert_ids,
    )
    .await?
    .into_iter()
    .map(|n| (n.client_id, n.alert_id))
    .collect();
    let mut rows: BTreeMap<(String, String), occurrences::Model> = BTreeMap::new();
    for (matched, key) in keyed {
        let pair = (matched.client_id.clone(), matched.alert.alert_id.clone());
        if own.contains(&pair) {
            continue;
        }
        let Some(notification_id) = open.get(&(matched.client_id.clone(), key.to_owned())) else {
            // Its client was deleted meanwhile, or the notification resolved: nothing
            // open to fold into.
            continue;
        };
        rows.entry(pair).or_insert_with(|| occurrences::Model {
            client_id: matched.client_id.clone(),
            alert_id: matched.alert.alert_id.clone(),
            notification_id: *notification_id,
            event_ts: matched.alert.event_ts,
            seen_at: now,
        });
    }
    record(db, rows.into_values().collect(), now).await
}

/// Stores the occurrences and moves each notification's count by the new ones.
async fn record<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    rows: Vec<occurrences::Model>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let transaction = db.begin().await?;
    let mut added: BTreeMap<Uuid, i32> = BTreeMap::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let stored = occurrences::Entity::insert_many(
            chunk
                .iter()
                .map(|row| sea_orm::IntoActiveModel::into_active_model(row.clone())),
        )
        // Its primary key is (client, alert): a redelivered alert is there already.
        .on_conflict_do_nothing()
        .exec_with_returning_many(&transaction)
        .await?;
        if let sea_orm::TryInsertResult::Inserted(stored) = stored {
            for row in stored {
                *added.entry(row.notification_id).or_default() += 1;
            }
        }
    }
    let mut total = 0u64;
    for (notification_id, count) in added {
        notifications::Entity::update_many()
            .col_expr(
                notifications::Column::Occurrences,
                Expr::col(notifications::Column::Occurrences).add(count),
            )
            .col_expr(notifications::Column::LastSeenAt, Expr::value(now))
            .filter(notifications::Column::Id.eq(notification_id))
            .exec(&transaction)
            .await?;
        total += u64::try_from(count).unwrap_or(0);
    }
    transaction.commit().await?;
    Ok(total)
}
