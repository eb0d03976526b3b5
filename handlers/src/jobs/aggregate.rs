//! The aggregator's handler: a batch of matches in, one notification row per
//! (client, alert) out (one statement, `ON CONFLICT DO NOTHING RETURNING id`), or per
//! (client, dedup key) while one is open (the rest fold into it: `fold`), and a
//! `notifications.ready` for every row of the batch that is still undelivered. New rows
//! are, and so is a row whose first announcement a crash cut short (found by a second
//! query, only when the batch held rows stored before): nothing strands. Resolved
//! alerts resolve their key's open notification (`resolve`), in the order they came:
//! a batch is applied in rounds, each key's n-th run of firing alerts and the resolved
//! ones after it in round n, stored and then resolved in one write transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use alerting_entities::{clients, notifications, occurrences};
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
    timings::Timings,
};
use crate::{
    domain::{Interval, NotificationStatus},
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
    timings: &Timings,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let kept: Vec<&AlertMatchedEvent> = matches.iter().filter(|m| belongs(m)).collect();
    let existing = existing_clients(db, &kept).await?;
    let mut announcements = Vec::new();
    for round in rounds(&kept) {
        if round.firing.is_empty() {
            if !round.resolved.is_empty() {
                announcements.extend(
                    super::resolve::resolve_matches(db, &round.resolved, Utc::now()).await?,
                );
            }
            continue;
        }
        announcements.extend(store(db, &round, timings, &existing).await?);
    }
    Ok(announcements)
}

/// A round of a batch: firing alerts stored together, then resolves applied, in one
/// write transaction. A (client, dedup key) has one run of firing alerts in a round at
/// most, and its resolves in the round come after it.
#[derive(Default)]
struct Round<'a> {
    firing: Vec<&'a AlertMatchedEvent>,
    resolved: Vec<&'a AlertMatchedEvent>,
}

/// Splits `matches` into rounds so that each key's alerts apply in order: a key's
/// alerts, in batch order, form runs of firing and of resolved ones; round `n` takes
/// every key's `n`-th firing run with the resolved run that follows it (and round 0
/// the alerts without a key, and a key's resolves before its first firing alert). A key
/// that fires, resolves and fires again in one batch takes two rounds; most batches
/// are one or two, whatever their size.
fn rounds<'a>(matches: &[&'a AlertMatchedEvent]) -> Vec<Round<'a>> {
    let mut rounds: Vec<Round<'a>> = vec![Round::default()];
    // Each key's round so far, and whether its latest alert was a resolve.
    let mut runs: HashMap<(&str, &str), (usize, bool)> = HashMap::new();
    for matched in matches {
        let resolved = !matched.alert.status.is_firing();
        let round = match matched.alert.dedup_key.as_deref() {
            // A resolve without a key never passes validation; nothing to resolve.
            None if resolved => continue,
            None => 0,
            Some(key) => {
                let run = runs
                    .entry((matched.client_id.as_str(), key))
                    .or_insert((0, false));
                // Firing again after a resolve: the next round.
                if run.1 && !resolved {
                    run.0 += 1;
                }
                run.1 = resolved;
                run.0
            }
        };
        if rounds.len() <= round {
            rounds.resize_with(round + 1, Round::default);
        }
        if resolved {
            rounds[round].resolved.push(matched);
        } else {
            rounds[round].firing.push(matched);
        }
    }
    rounds
}

/// The clients of `matches` that still exist: a client deleted since the match has
/// nobody left to notify. Read once per batch.
async fn existing_clients<C: ConnectionTrait>(
    db: &C,
    matches: &[&AlertMatchedEvent],
) -> Result<HashSet<String>, DbErr> {
    let wanted: BTreeSet<&str> = matches.iter().map(|m| m.client_id.as_str()).collect();
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(clients::Entity::find()
        .select_only()
        .column(clients::Column::Id)
        .filter(clients::Column::Id.is_in(wanted.iter().copied()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Stores the notifications of a round's firing matches, and applies its resolves in
/// the same write transaction (they are of other keys: a key's runs are in rounds of
/// their own); returns the announcements to publish.
async fn store<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    round: &Round<'_>,
    timings: &Timings,
    existing: &HashSet<String>,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let kept = &round.firing;
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
    // What is stored decides for keyed matches: redeliveries, folds into what is open,
    // and the ones that find nothing open (the first of each key opens a notification,
    // the rest of the batch's fold into it). Read, then written, in one transaction:
    // the new rows, the occurrences with their counts, and the round's resolves.
    let keyed = stored.iter().any(|m| m.alert.dedup_key.is_some());
    let (transaction, plan) = super::fold::begin_with_plan(db, &stored, keyed, now).await?;
    let candidates: Vec<&AlertMatchedEvent> = stored
        .iter()
        .copied()
        .filter(|m| m.alert.dedup_key.is_none())
        .chain(plan.unopened.iter().copied())
        .collect();
    let mut models = rows_of(&candidates, now, timings);
    // By client and key: aggregators inserting the same keys at once take the open-key
    // index's entries in one order, and never wait on each other in a circle.
    models.sort_by(|a, b| {
        (&a.client_id, &a.dedup_key, &a.alert_id).cmp(&(&b.client_id, &b.dedup_key, &b.alert_id))
    });
    let openers: HashMap<(&str, &str), Uuid> = models
        .iter()
        .filter_map(|m| {
            m.dedup_key
                .as_deref()
                .map(|key| ((m.client_id.as_str(), key), m.id))
        })
        .collect();
    let rows: HashSet<(&str, &str)> = models
        .iter()
        .map(|m| (m.client_id.as_str(), m.alert_id.as_str()))
        .collect();
    // The ids of the rows this batch inserted; a row it did not insert existed already.
    let mut inserted = insert(&transaction, &models).await?;
    let mut folds = plan.folds;
    let mut followed: HashSet<(&str, &str)> = HashSet::new();
    // An opener refused (its key opened meanwhile, by another aggregator) and the
    // matches that were to fold into it try again below.
    let mut retry: Vec<&AlertMatchedEvent> = Vec::new();
    for matched in &plan.unopened {
        let (client, alert) = (matched.client_id.as_str(), matched.alert.alert_id.as_str());
        let opener = matched
            .alert
            .dedup_key
            .as_deref()
            .and_then(|key| openers.get(&(client, key)))
            .filter(|id| inserted.contains(id));
        match opener {
            None => retry.push(matched),
            Some(_) if rows.contains(&(client, alert)) => {}
            Some(id) => {
                if followed.insert((client, alert)) {
                    folds.push(occurrences::Model {
                        client_id: client.to_owned(),
                        alert_id: alert.to_owned(),
                        notification_id: *id,
                        event_ts: matched.alert.event_ts,
                        seen_at: now,
                    });
                }
            }
        }
    }
    let counted = super::fold::record(&transaction, folds, now).await?;
    let resolutions = if round.resolved.is_empty() {
        Vec::new()
    } else if !retry.is_empty() {
        // An opener refused (another aggregator opened its key meanwhile): its alerts
        // fold only after this commit, and a resolve of the key would overtake them.
        // Rare (a rebalance); the batch is applied again, and then they fold first.
        return Err(DbErr::Custom(
            "a dedup key was opened by another aggregator meanwhile; the batch is applied again"
                .to_owned(),
        ));
    } else {
        super::resolve::resolve_within(&transaction, &round.resolved, now).await?
    };
    transaction.commit().await?;
    let mut announcements: Vec<OutgoingMessage> = announce(&models, &inserted);
    announcements.extend(resolutions);
    let keyed_rows = plan.own;
    let mut folded = if retry.is_empty() {
        super::fold::Folded {
            occurrences: 0,
            unopened: Vec::new(),
        }
    } else {
        super::fold::fold(db, &retry, now).await?
    };
    folded.occurrences += counted;
    for _ in 0..MAX_OPENING_ROUNDS {
        if folded.unopened.is_empty() {
            break;
        }
        let openers = rows_of(&folded.unopened, now, timings);
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
    // Keyed ones were read by the fold already; the rest are read here.
    let alert_ids: Vec<&str> = earlier
        .iter()
        .filter(|m| m.dedup_key.is_none())
        .map(|m| m.alert_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // A keyed match whose alert has a row of its own is that row's redelivery (the
    // fold read those rows): announced again too, while undelivered.
    let redelivered: HashSet<(&str, &str)> = stored
        .iter()
        .filter(|m| m.alert.dedup_key.is_some())
        .map(|m| (m.client_id.as_str(), m.alert.alert_id.as_str()))
        .collect();
    let mut stored = if alert_ids.is_empty() {
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
    stored.extend(keyed_rows);
    // What this batch inserted was announced above.
    let mut announced: HashSet<Uuid> = inserted.clone();
    for row in stored {
        if !announced.insert(row.id) {
            continue;
        }
        let pair = (row.client_id.as_str(), row.alert_id.as_str());
        if (pairs.contains(&pair) || redelivered.contains(&pair))
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
fn rows_of(
    matches: &[&AlertMatchedEvent],
    now: DateTime<Utc>,
    timings: &Timings,
) -> Vec<notifications::Model> {
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
        rows.entry(key).or_insert_with(|| {
            let timing = timings.of(&matched.rule_ids);
            notifications::Model {
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
                repeat_interval_seconds: timing.repeat.map(Interval::seconds),
                auto_resolve_after_seconds: timing.auto_resolve.map(Interval::seconds),
                next_repeat_at: timing.repeat.map(|interval| now + interval.duration()),
                repeats: 0,
                repeat_status: None,
            }
        });
    }
    rows.into_values().collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::AlertStatus, events::AlertBody};

    fn alert(id: &str, key: Option<&str>, status: AlertStatus) -> AlertMatchedEvent {
        AlertMatchedEvent {
            schema_version: 1,
            alert: AlertBody {
                owner: None,
                alert_id: id.to_owned(),
                event_ts: Utc::now(),
                severity: "HIGH".to_owned(),
                source: "db".to_owned(),
                name: "down".to_owned(),
                context: Default::default(),
                dedup_key: key.map(str::to_owned),
                status,
            },
            client_id: "acme".to_owned(),
            rule_ids: Vec::new(),
        }
    }

    #[test]
    fn each_round_holds_a_firing_run_of_a_key_and_the_resolves_after_it() {
        use AlertStatus::{Firing as F, Resolved as R};
        let batch = [
            alert("r0", Some("b"), R),
            alert("a1", Some("a"), F),
            alert("a2", Some("a"), F),
            alert("ar1", Some("a"), R),
            alert("n1", None, F),
            alert("a3", Some("a"), F),
            alert("ar2", Some("a"), R),
            alert("ar3", Some("a"), R),
            alert("b1", Some("b"), F),
        ];
        let matches: Vec<&AlertMatchedEvent> = batch.iter().collect();
        let ids = |list: &[&AlertMatchedEvent]| -> Vec<String> {
            list.iter().map(|m| m.alert.alert_id.clone()).collect()
        };
        let rounds = rounds(&matches);
        let seen: Vec<(Vec<String>, Vec<String>)> = rounds
            .iter()
            .map(|round| (ids(&round.firing), ids(&round.resolved)))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    vec!["a1".to_owned(), "a2".into(), "n1".into()],
                    vec!["r0".to_owned(), "ar1".into()]
                ),
                (
                    vec!["a3".to_owned(), "b1".into()],
                    vec!["ar2".to_owned(), "ar3".into()]
                ),
            ]
        );
    }
}
