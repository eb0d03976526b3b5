//! Folding: an alert with a dedup key whose client already has an open notification
//! with that key becomes an occurrence of it instead of a notification of its own (no
//! delivery). The occurrence is a row keyed by (client, alert), so a redelivered alert
//! counts once; the row and the notification's count move in one transaction, so a
//! crash between them cannot leave one without the other.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use alerting_entities::{notifications, occurrences};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{
    ROWS_PER_STATEMENT,
    index_lookups::{all_with_keys, prefer_index_lookups, stored_pairs},
};
use crate::events::AlertMatchedEvent;

/// What folding did: the occurrences it counted, and the keyed matches that found no
/// open notification to fold into (nor one of their own).
pub struct Folded<'a> {
    pub occurrences: u64,
    pub unopened: Vec<&'a AlertMatchedEvent>,
}

/// What the stored rows say of a batch's keyed matches: the occurrences to record
/// (alerts whose key has an open notification), the matches that find none open (in
/// batch order: the first of each key may open one, the rest fold into it), and the
/// stored notifications of their alerts (a match whose alert has one is its
/// redelivery). A match whose alert was counted before (an occurrence, or the resolve
/// of a notification since closed) is a redelivery too: it opens nothing.
pub struct Plan<'a> {
    pub folds: Vec<occurrences::Model>,
    pub unopened: Vec<&'a AlertMatchedEvent>,
    pub own: Vec<notifications::Model>,
}

/// Reads what the keyed matches of `matches` need, on `reads`: the transaction that
/// then writes what they do (on Postgres, preferring index lookups).
pub async fn plan<'a, C: ConnectionTrait>(
    reads: &C,
    matches: &[&'a AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Plan<'a>, DbErr> {
    let keyed: Vec<(&'a AlertMatchedEvent, &'a str)> = matches
        .iter()
        .filter_map(|m| m.alert.dedup_key.as_deref().map(|key| (*m, key)))
        .collect();
    if keyed.is_empty() {
        return Ok(Plan {
            folds: Vec::new(),
            unopened: Vec::new(),
            own: Vec::new(),
        });
    }
    // The open notification of each (client, key) of the batch. By client and key,
    // the index's own order.
    let clients: Vec<String> = distinct(keyed.iter().map(|(m, _)| m.client_id.as_str()));
    let keys: Vec<String> = distinct(keyed.iter().map(|(_, key)| *key));
    let open: HashMap<(String, String), Uuid> = all_with_keys(
        reads,
        notifications::Entity::find().filter(notifications::Column::ClientId.is_in(clients)),
        notifications::Column::OpenKey,
        &keys,
    )
    .await?
    .into_iter()
    .filter_map(|n| Some(((n.client_id, n.open_key?), n.id)))
    .collect();
    let alert_ids: Vec<String> = distinct(keyed.iter().map(|(m, _)| m.alert.alert_id.as_str()));
    let own_rows = all_with_keys(
        reads,
        notifications::Entity::find(),
        notifications::Column::AlertId,
        &alert_ids,
    )
    .await?;
    let own: HashSet<(String, String)> = own_rows
        .iter()
        .map(|n| (n.client_id.clone(), n.alert_id.clone()))
        .collect();
    // Only an alert that would open a notification is asked whether it was counted
    // before (a redelivery must not open another); one that folds is kept from
    // counting twice by its occurrence's key. Most batches fold: no query.
    let counted = counted(
        reads,
        keyed
            .iter()
            .filter(|(m, key)| {
                !open.contains_key(&(m.client_id.clone(), (*key).to_owned()))
                    && !own.contains(&(m.client_id.clone(), m.alert.alert_id.clone()))
            })
            .map(|(m, _)| (m.client_id.as_str(), m.alert.alert_id.as_str())),
    )
    .await?;
    let mut folds: BTreeMap<(String, String), occurrences::Model> = BTreeMap::new();
    let mut unopened = Vec::new();
    for (matched, key) in keyed {
        let pair = (matched.client_id.clone(), matched.alert.alert_id.clone());
        if own.contains(&pair) || counted.contains(&pair) {
            continue;
        }
        let Some(notification_id) = open.get(&(matched.client_id.clone(), key.to_owned())) else {
            unopened.push(matched);
            continue;
        };
        folds.entry(pair).or_insert_with(|| occurrences::Model {
            client_id: matched.client_id.clone(),
            alert_id: matched.alert.alert_id.clone(),
            notification_id: *notification_id,
            event_ts: matched.alert.event_ts,
            seen_at: now,
        });
    }
    Ok(Plan {
        folds: folds.into_values().collect(),
        unopened,
        own: own_rows,
    })
}

/// The write transaction of `matches`, and their plan. On Postgres the plan is read in
/// the transaction (preferring index lookups when `keyed`): no transaction of its own
/// to begin and commit. SQLite reads it first: a transaction that reads before it
/// writes cannot take the write lock while another writer holds it (it fails at once,
/// where one that writes first waits its turn).
pub async fn begin_with_plan<'a, C: ConnectionTrait + TransactionTrait>(
    db: &C,
    matches: &[&'a AlertMatchedEvent],
    keyed: bool,
    now: DateTime<Utc>,
) -> Result<(C::Transaction, Plan<'a>), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        let transaction = db.begin().await?;
        if keyed {
            prefer_index_lookups(&transaction).await?;
        }
        let plan = plan(&transaction, matches, now).await?;
        Ok((transaction, plan))
    } else {
        let plan = plan(db, matches, now).await?;
        Ok((db.begin().await?, plan))
    }
}

/// Folds every keyed match in `matches` whose alert is not a notification's own into
/// its client's open notification with that key.
pub async fn fold<'a, C: ConnectionTrait + TransactionTrait>(
    db: &C,
    matches: &[&'a AlertMatchedEvent],
    now: DateTime<Utc>,
) -> Result<Folded<'a>, DbErr> {
    let (transaction, plan) = begin_with_plan(db, matches, true, now).await?;
    let occurrences = record(&transaction, plan.folds, now).await?;
    transaction.commit().await?;
    Ok(Folded {
        occurrences,
        unopened: plan.unopened,
    })
}

/// Which of these (client, alert) pairs are occurrences already. One that is was
/// counted by a notification since resolved: its redelivery must not open another.
/// Asked only of alerts that would open a notification, a few per batch.
pub async fn counted<'a, C: ConnectionTrait>(
    db: &C,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<HashSet<(String, String)>, DbErr> {
    stored_pairs::<occurrences::Entity, _>(
        db,
        occurrences::Column::ClientId,
        occurrences::Column::AlertId,
        pairs,
        |o| (o.client_id, o.alert_id),
    )
    .await
}

fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    values
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Stores the occurrences and moves each notification's count by the new ones.
pub async fn record<C: ConnectionTrait>(
    transaction: &C,
    rows: Vec<occurrences::Model>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut added: BTreeMap<Uuid, i32> = BTreeMap::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let stored = occurrences::Entity::insert_many(
            chunk
                .iter()
                .map(|row| sea_orm::IntoActiveModel::into_active_model(row.clone())),
        )
        // Its primary key is (client, alert): a redelivered alert is there already.
        .on_conflict_do_nothing()
        .exec_with_returning_many(transaction)
        .await?;
        if let sea_orm::TryInsertResult::Inserted(stored) = stored {
            for row in stored {
                *added.entry(row.notification_id).or_default() += 1;
            }
        }
    }
    let total: u64 = added.values().map(|n| u64::try_from(*n).unwrap_or(0)).sum();
    let added: Vec<(Uuid, i32)> = added.into_iter().collect();
    // One statement per chunk: each notification's count moves by its own number.
    for chunk in added.chunks(ROWS_PER_STATEMENT) {
        let Some(((first, first_count), rest)) = chunk.split_first() else {
            continue;
        };
        let by = rest
            .iter()
            .fold(
                Expr::case(
                    Expr::col(notifications::Column::Id).eq(*first),
                    *first_count,
                ),
                |case, (id, count)| case.case(Expr::col(notifications::Column::Id).eq(*id), *count),
            )
            .finally(0);
        let counted = notifications::Entity::update_many()
            .col_expr(
                notifications::Column::Occurrences,
                Expr::col(notifications::Column::Occurrences).add(by),
            )
            // Never back: batches commit out of order.
            .col_expr(
                notifications::Column::LastSeenAt,
                Expr::case(
                    Condition::any()
                        .add(Expr::col(notifications::Column::LastSeenAt).is_null())
                        .add(Expr::col(notifications::Column::LastSeenAt).lt(now)),
                    now,
                )
                .finally(Expr::col(notifications::Column::LastSeenAt))
                .into(),
            )
            .filter(notifications::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .filter(notifications::Column::ResolvedAt.is_null())
            .exec(transaction)
            .await?;
        // Resolved since the plan read it open (a person, auto-resolve): these alerts
        // belong to no notification yet. The batch is tried again, and then opens one.
        if counted.rows_affected < chunk.len() as u64 {
            return Err(DbErr::Custom(
                "a notification was resolved while alerts folded into it; the batch is applied again".to_owned(),
            ));
        }
    }
    Ok(total)
}
