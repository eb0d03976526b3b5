//! What the sender reads and writes: a batch's notifications, their rules' endpoints
//! and their earlier deliveries, read with a handful of statements; each attempt's
//! record and each notification's status (of its firing delivery, and of its
//! resolution's), written many rows per statement.

use std::collections::{BTreeSet, HashMap, HashSet};

use alerting_entities::{deliveries, endpoints, notifications};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionSession,
    TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::SendOutcome;
use crate::{
    domain::{AlertStatus, DeliveryPhase, DeliveryStatus, EndpointKind, NotificationStatus},
    events::AlertBody,
    jobs::{
        ROWS_PER_STATEMENT,
        index_lookups::{all_with_keys, prefer_index_lookups},
    },
    ports::{Attempt, NotificationPayload, Resolution, Target},
};

/// One attempt's record: the row per (notification, endpoint, phase), created or
/// updated.
pub struct Record {
    pub notification_id: Uuid,
    pub target: Target,
    pub phase: DeliveryPhase,
    pub attempts: i32,
    pub attempt: Attempt,
    /// Left for a redrive because the receiver is down.
    pub deferred: bool,
}

impl Record {
    fn row(&self, now: DateTime<Utc>) -> deliveries::ActiveModel {
        let (status, error, http_status) = match &self.attempt {
            Attempt::Delivered { http_status } => (DeliveryStatus::Delivered, None, *http_status),
            Attempt::Retryable {
                error, http_status, ..
            } => (DeliveryStatus::Retrying, Some(error.clone()), *http_status),
            Attempt::Permanent { error, http_status } => {
                (DeliveryStatus::Failed, Some(error.clone()), *http_status)
            }
        };
        deliveries::ActiveModel {
            id: Set(Uuid::now_v7()),
            notification_id: Set(self.notification_id),
            endpoint_id: Set(self.target.endpoint_id),
            kind: Set(self.target.kind.as_str().to_owned()),
            target: Set(self.target.value.clone()),
            status: Set(status.as_str().to_owned()),
            attempts: Set(self.attempts),
            last_error: Set(error),
            last_http_status: Set(http_status.map(i32::from)),
            delivered_at: Set(matches!(self.attempt, Attempt::Delivered { .. }).then_some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            phase: Set(self.phase.name()),
        }
    }
}

/// Writes attempt records, many rows per statement.
pub async fn record_attempts<C: ConnectionTrait>(db: &C, records: &[Record]) -> Result<(), DbErr> {
    let now = Utc::now();
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        deliveries::Entity::insert_many(chunk.iter().map(|r| r.row(now)))
            .on_conflict(
                OnConflict::columns([
                    deliveries::Column::NotificationId,
                    deliveries::Column::EndpointId,
                    deliveries::Column::Phase,
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
    }
    Ok(())
}

/// Writes each notification's outcome into `column`: `status` (the firing delivery's),
/// `repeat_status` or `resolution_status`.
async fn set_statuses<C: ConnectionTrait>(
    db: &C,
    outcomes: &[(Uuid, SendOutcome)],
    column: notifications::Column,
) -> Result<(), DbErr> {
    let mut by_status: HashMap<NotificationStatus, Vec<Uuid>> = HashMap::new();
    for (id, outcome) in outcomes {
        let status = match outcome {
            SendOutcome::Skipped | SendOutcome::Continuing => continue,
            SendOutcome::Finished(status) => *status,
            // PENDING again, and from now: the redrive's clock starts over.
            SendOutcome::Deferred => NotificationStatus::Pending,
        };
        by_status.entry(status).or_default().push(*id);
    }
    let now = Utc::now();
    for (status, ids) in by_status {
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            notifications::Entity::update_many()
                .col_expr(column, Expr::value(status.as_str()))
                .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
                .filter(notifications::Column::Id.is_in(chunk.iter().copied()))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// Writes each repeat's outcome into `repeat_status`, only while that repeat is the
/// notification's latest and still PENDING: a job that outlived its repeat (a later one
/// is due, or the notification was resolved or acknowledged meanwhile) changes nothing.
async fn set_repeat_statuses<C: ConnectionTrait>(
    db: &C,
    repeats: &[(Uuid, i32, SendOutcome)],
) -> Result<(), DbErr> {
    let now = Utc::now();
    let pending = NotificationStatus::Pending.as_str();
    for (id, n, outcome) in repeats {
        let status = match outcome {
            SendOutcome::Skipped | SendOutcome::Continuing => continue,
            SendOutcome::Finished(status) => *status,
            SendOutcome::Deferred => NotificationStatus::Pending,
        };
        notifications::Entity::update_many()
            .col_expr(
                notifications::Column::RepeatStatus,
                Expr::value(status.as_str()),
            )
            .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
            .filter(notifications::Column::Id.eq(*id))
            .filter(notifications::Column::Repeats.eq(*n))
            .filter(notifications::Column::RepeatStatus.eq(pending))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The attempts and statuses finished since the last write, in one transaction: one
/// commit (one WAL flush in Postgres) where there were two.
pub async fn write_finished<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    records: &[Record],
    finished: &[(Uuid, SendOutcome)],
    repeats: &[(Uuid, i32, SendOutcome)],
    resolutions: &[(Uuid, SendOutcome)],
    silenced: &[(Uuid, Uuid)],
) -> Result<(), DbErr> {
    if records.is_empty() && finished.is_empty() && repeats.is_empty() && resolutions.is_empty() {
        return Ok(());
    }
    let transaction = db.begin().await?;
    prefer_index_lookups(&transaction).await?;
    record_attempts(&transaction, records).await?;
    set_statuses(&transaction, finished, notifications::Column::Status).await?;
    set_repeat_statuses(&transaction, repeats).await?;
    set_statuses(
        &transaction,
        resolutions,
        notifications::Column::ResolutionStatus,
    )
    .await?;
    for (id, silence) in silenced {
        // A silenced notification holds no key: the key's next alert is a notification
        // of its own, silenced again only if a silence still applies to it.
        notifications::Entity::update_many()
            .col_expr(notifications::Column::SilencedBy, Expr::value(*silence))
            .col_expr(notifications::Column::OpenKey, Expr::value(None::<String>))
            .filter(notifications::Column::Id.eq(*id))
            .exec(&transaction)
            .await?;
    }
    transaction.commit().await
}

/// What a notification's earlier rounds left for one endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Earlier {
    pub delivered: bool,
    pub attempts: i32,
}

/// The enabled endpoints of a batch's rules, by rule.
pub struct Endpoints {
    by_rule: HashMap<Uuid, Vec<(DateTime<Utc>, Target)>>,
}

impl Endpoints {
    /// The endpoints of these rules, each address once (the oldest endpoint naming it,
    /// so the choice, and the idempotency key, stay the same on every try).
    pub fn for_rules(&self, rule_ids: &[Uuid]) -> Vec<Target> {
        let mut all: Vec<&(DateTime<Utc>, Target)> = rule_ids
            .iter()
            .filter_map(|id| self.by_rule.get(id))
            .flatten()
            .collect();
        all.sort_by_key(|(created_at, target)| (*created_at, target.endpoint_id));
        let mut seen = HashSet::new();
        all.into_iter()
            .filter(|(_, target)| seen.insert((target.kind, target.value.as_str())))
            .map(|(_, target)| target.clone())
            .collect()
    }
}

async fn targets<C: ConnectionTrait>(
    db: &C,
    rule_ids: &BTreeSet<Uuid>,
) -> Result<Endpoints, DbErr> {
    let mut by_rule: HashMap<Uuid, Vec<(DateTime<Utc>, Target)>> = HashMap::new();
    let ids: Vec<Uuid> = rule_ids.iter().copied().collect();
    let enabled = endpoints::Entity::find().filter(endpoints::Column::Enabled.eq(true));
    for row in all_with_keys(db, enabled, endpoints::Column::RuleId, &ids).await? {
        let Ok(kind) = row.kind.parse::<EndpointKind>() else {
            continue;
        };
        by_rule.entry(row.rule_id).or_default().push((
            row.created_at,
            Target {
                endpoint_id: row.id,
                kind,
                value: row.value,
                secret: row.secret,
            },
        ));
    }
    Ok(Endpoints { by_rule })
}

fn payload(row: &notifications::Model) -> NotificationPayload {
    NotificationPayload {
        notification_id: row.id,
        client_id: row.client_id.clone(),
        shared: row.shared,
        alert: AlertBody {
            owner: (!row.shared).then(|| row.client_id.clone()),
            alert_id: row.alert_id.clone(),
            event_ts: row.event_ts,
            severity: row.severity.clone(),
            source: row.source.clone(),
            name: row.name.clone(),
            context: serde_json::from_value(row.context.clone()).unwrap_or_default(),
            dedup_key: row.dedup_key.clone(),
            status: AlertStatus::Firing,
        },
        rule_ids: serde_json::from_value(row.rule_ids.clone()).unwrap_or_default(),
        created_at: row.created_at,
        resolution: None,
        repeat: None,
    }
}

/// The resolution to deliver, if the notification has one still to deliver.
fn resolution(row: &notifications::Model) -> Option<Resolution> {
    if row.resolution_status.as_deref() != Some(NotificationStatus::Pending.as_str()) {
        return None;
    }
    let resolved_at = row.resolved_at.unwrap_or(row.updated_at);
    let first_seen = row.first_seen_at.unwrap_or(row.created_at);
    Some(Resolution {
        resolved_at,
        lasted: (resolved_at - first_seen).to_std().unwrap_or_default(),
    })
}

/// A notification with something to deliver: the notification itself (its status is
/// PENDING), a repeat (its repeat status is), its resolution (its resolution status
/// is), or more than one.
pub struct Due {
    pub payload: NotificationPayload,
    pub firing: bool,
    /// Which repeat, if one is to deliver.
    pub repeat: Option<i32>,
    pub resolution: Option<Resolution>,
}

/// What the sender reads for a batch before delivering it.
pub struct BatchRead {
    /// The notifications with nothing to do: gone (their client was deleted) or final.
    pub outcomes: Vec<(Uuid, SendOutcome)>,
    /// The notifications to deliver.
    pub due: Vec<Due>,
    pub endpoints: Endpoints,
    /// Their deliveries of earlier rounds, by notification, endpoint and phase.
    pub earlier: HashMap<Uuid, HashMap<(Uuid, DeliveryPhase), Earlier>>,
}

pub async fn read_batch<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<BatchRead, DbErr> {
    let rows = all_with_keys(
        db,
        notifications::Entity::find(),
        notifications::Column::Id,
        ids,
    )
    .await?;
    let mut outcomes: Vec<(Uuid, SendOutcome)> = Vec::with_capacity(ids.len());
    let found: HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
    outcomes.extend(
        ids.iter()
            .filter(|id| !found.contains(id))
            .map(|id| (*id, SendOutcome::Skipped)),
    );
    let pending = NotificationStatus::Pending.as_str();
    let (rows, already_final): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| {
        row.status == pending
            || row.resolution_status.as_deref() == Some(pending)
            || row.repeat_status.as_deref() == Some(pending)
    });
    outcomes.extend(
        already_final
            .iter()
            .map(|row| (row.id, SendOutcome::Skipped)),
    );
    let due: Vec<Due> = rows
        .iter()
        .map(|row| Due {
            payload: payload(row),
            firing: row.status == pending,
            // Not once someone has it, or it is over.
            repeat: (row.repeat_status.as_deref() == Some(pending)
                && row.resolved_at.is_none()
                && row.acknowledged_at.is_none())
            .then_some(row.repeats),
            resolution: resolution(row),
        })
        .collect();
    let rule_ids: BTreeSet<Uuid> = due
        .iter()
        .flat_map(|d| d.payload.rule_ids.iter().copied())
        .collect();
    // No rules (nothing left to deliver): no query.
    let endpoints = targets(db, &rule_ids).await?;
    let row_ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut earlier: HashMap<Uuid, HashMap<(Uuid, DeliveryPhase), Earlier>> = HashMap::new();
    for delivery in all_with_keys(
        db,
        deliveries::Entity::find(),
        deliveries::Column::NotificationId,
        &row_ids,
    )
    .await?
    {
        earlier.entry(delivery.notification_id).or_default().insert(
            (delivery.endpoint_id, DeliveryPhase::of_row(&delivery.phase)),
            Earlier {
                delivered: delivery.status == DeliveryStatus::Delivered.as_str(),
                attempts: delivery.attempts,
            },
        );
    }
    Ok(BatchRead {
        outcomes,
        due,
        endpoints,
        earlier,
    })
}
