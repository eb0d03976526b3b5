//! The lifecycle's timed work, run by every sender once a second (one more sender is
//! one more runner, never a second repeat: each change is conditional on what was read).
//!
//! - **Repeat**: an open, unacknowledged notification whose rule set `repeat_interval`
//!   is delivered again once per interval, as Alertmanager's `repeat_interval` does: the
//!   repeat count goes up, `repeat_status` is PENDING and the notification is announced;
//!   the sender delivers repeat N to every endpoint of its rules (phase `repeat-N`, an
//!   idempotency key of its own), or records it SILENCED while a silence applies. A
//!   notification whose own delivery or previous repeat is still going waits an interval
//!   more. The interval is its rules' current one: a rule changed, disabled or deleted
//!   since changes or stops its notifications' repeats.
//! - **Auto-resolve**: an open notification whose rules set `auto_resolve_after` and
//!   that has had no occurrence for that long is resolved (`resolved_by` says so), and
//!   its resolution delivered like any other.

use alerting_entities::notifications;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use uuid::Uuid;

use super::{
    resolve::{announce, resolve_quiet},
    timings::Timings,
};
use crate::{
    domain::{Interval, NotificationStatus},
    events::NotificationReadyEvent,
    metrics::metrics,
    ports::OutgoingMessage,
};

/// How often a sender looks for repeats and auto-resolves due: the precision of both.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Notifications looked at per statement; a run takes pages until none is left.
const PAGE: u64 = 500;

/// What `resolved_by` says of an auto-resolve.
pub fn by_auto_resolve(after: Interval) -> String {
    format!("auto-resolve: no occurrence for {}", after.text())
}

/// The rules a notification matched.
fn rule_ids(row: &notifications::Model) -> Vec<Uuid> {
    serde_json::from_value(row.rule_ids.clone()).unwrap_or_default()
}

/// Announces the repeats due at `now`, at the rules' current intervals (`timings`);
/// returns the announcements.
pub async fn repeat_due<C: ConnectionTrait>(
    db: &C,
    timings: &Timings,
    now: DateTime<Utc>,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let mut announcements = Vec::new();
    loop {
        let due = notifications::Entity::find()
            .filter(notifications::Column::NextRepeatAt.lte(now))
            .order_by_asc(notifications::Column::NextRepeatAt)
            .limit(PAGE)
            .all(db)
            .await?;
        for row in &due {
            if let Some(announcement) = repeat_one(db, timings, row, now).await? {
                announcements.push(announcement);
            }
        }
        if (due.len() as u64) < PAGE {
            break;
        }
    }
    metrics()
        .notifications_repeated
        .add(announcements.len() as u64);
    Ok(announcements)
}

/// What becomes of one notification whose repeat is due: it stops repeating, waits, or
/// repeats. Every change is conditional on the repeat count read, so a second runner's
/// change of the same row makes this one change nothing.
async fn repeat_one<C: ConnectionTrait>(
    db: &C,
    timings: &Timings,
    row: &notifications::Model,
    now: DateTime<Utc>,
) -> Result<Option<OutgoingMessage>, DbErr> {
    let pending = NotificationStatus::Pending.as_str();
    let same = notifications::Entity::update_many()
        .filter(notifications::Column::Id.eq(row.id))
        .filter(notifications::Column::Repeats.eq(row.repeats));
    let interval = timings.of(&rule_ids(row)).repeat;
    let over = row.resolved_at.is_some()
        || row.acknowledged_at.is_some()
        || row.silenced_by.is_some()
        || row.status == NotificationStatus::Silenced.as_str();
    let Some(interval) = interval.filter(|_| !over) else {
        same.col_expr(
            notifications::Column::NextRepeatAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .exec(db)
        .await?;
        return Ok(None);
    };
    let next = now + interval.duration();
    if row.status == pending || row.repeat_status.as_deref() == Some(pending) {
        // Still being delivered: the repeat would overtake it.
        same.col_expr(notifications::Column::NextRepeatAt, Expr::value(next))
            .exec(db)
            .await?;
        return Ok(None);
    }
    let repeated = same
        .filter(notifications::Column::ResolvedAt.is_null())
        .filter(notifications::Column::AcknowledgedAt.is_null())
        .col_expr(notifications::Column::Repeats, Expr::value(row.repeats + 1))
        .col_expr(notifications::Column::RepeatStatus, Expr::value(pending))
        .col_expr(notifications::Column::NextRepeatAt, Expr::value(next))
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
        .exec(db)
        .await?;
    if repeated.rows_affected == 0 {
        return Ok(None);
    }
    tracing::debug!(notification_id = %row.id, client_id = %row.client_id, repeat = row.repeats + 1, "notification repeats");
    Ok(Some(NotificationReadyEvent::message(
        row.id,
        &row.client_id,
        &row.alert_id,
    )))
}

/// Resolves the open notifications that have had no occurrence for their rules'
/// current `auto_resolve_after` (`timings`) by `now`; returns the announcements of their
/// resolutions. Only those quiet for the shortest interval of any rule are read.
pub async fn auto_resolve_due<C: ConnectionTrait>(
    db: &C,
    timings: &Timings,
    now: DateTime<Utc>,
) -> Result<Vec<OutgoingMessage>, DbErr> {
    let mut announcements = Vec::new();
    let Some(shortest) = timings.shortest_auto_resolve() else {
        return Ok(announcements);
    };
    let mut after = None;
    loop {
        let mut select = notifications::Entity::find()
            .filter(notifications::Column::AutoResolveAfterSeconds.is_not_null())
            .filter(notifications::Column::ResolvedAt.is_null())
            .filter(notifications::Column::LastSeenAt.lte(now - shortest.duration()))
            .order_by_asc(notifications::Column::Id)
            .limit(PAGE);
        if let Some(after) = after {
            select = select.filter(notifications::Column::Id.gt(after));
        }
        let open = select.all(db).await?;
        for row in &open {
            let Some(quiet) = timings.of(&rule_ids(row)).auto_resolve else {
                continue;
            };
            let last = row.last_seen_at.unwrap_or(row.created_at);
            if last + quiet.duration() > now {
                continue;
            }
            let by = by_auto_resolve(quiet);
            if let Some(resolved) = resolve_quiet(db, row.id, row.occurrences, &by, now).await? {
                announcements.push(announce(&resolved));
            }
        }
        match open.last() {
            Some(last) if open.len() as u64 == PAGE => after = Some(last.id),
            _ => break,
        }
    }
    metrics()
        .notifications_resolved
        .add(announcements.len() as u64);
    Ok(announcements)
}
