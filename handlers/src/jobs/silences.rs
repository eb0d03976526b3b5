//! The silences a sender applies: the ones not ended, read from the database at most
//! once a second (so a new, edited or expired silence takes effect within that, plus a
//! batch), kept by client. A notification a silence applies to when it is about to be
//! delivered is recorded SILENCED with the silence's id instead.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alerting_entities::silences;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::domain::{
    Alert, FieldPattern, SeverityPattern,
    silence::{Matchers, Recurrence, Silence},
};

/// How old the silences a sender applies may be.
pub const REFRESH: Duration = Duration::from_secs(1);

/// A stored silence as the matching needs it; `None` for a row that does not parse
/// (written by hand, or by a newer version), which is skipped.
pub fn from_row(row: &silences::Model) -> Option<Silence> {
    let recurrence = match (
        &row.recurrence_days,
        &row.recurrence_start,
        row.recurrence_duration_seconds,
        &row.recurrence_time_zone,
    ) {
        (Some(days), Some(start), Some(seconds), Some(zone)) => {
            let days: Vec<String> = days.split(',').map(str::to_owned).collect();
            Some(Recurrence::parse(&days, start, &format!("{seconds}s"), zone).ok()?)
        }
        _ => None,
    };
    Some(Silence {
        id: row.id,
        client_id: row.client_id.clone(),
        matchers: Matchers {
            severity: SeverityPattern::parse(&row.severity).ok()?,
            source: FieldPattern::parse(&row.source).ok()?,
            name: FieldPattern::parse(&row.name).ok()?,
            context: serde_json::from_value(row.context.clone()).ok()?,
        },
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        recurrence,
    })
}

/// A client's silences not ended at `now` (pending ones too).
pub async fn not_ended<C: ConnectionTrait>(
    db: &C,
    client_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Silence>, DbErr> {
    let mut select = silences::Entity::find().filter(
        Condition::any()
            .add(silences::Column::EndsAt.is_null())
            .add(silences::Column::EndsAt.gt(now)),
    );
    if let Some(client_id) = client_id {
        select = select.filter(silences::Column::ClientId.eq(client_id));
    }
    // Oldest first: the one a notification's record names, as explain says.
    let rows = select
        .order_by_asc(silences::Column::CreatedAt)
        .order_by_asc(silences::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let parsed = from_row(row);
            if parsed.is_none() {
                tracing::warn!(silence_id = %row.id, "a stored silence does not parse: skipped");
            }
            parsed
        })
        .collect())
}

/// Silences by client.
#[derive(Debug, Default)]
pub struct Current {
    by_client: HashMap<String, Vec<Silence>>,
}

impl Current {
    /// The first silence that applies to `alert` of `client_id` at `at`.
    pub fn silencing(&self, client_id: &str, alert: &Alert, at: DateTime<Utc>) -> Option<Uuid> {
        self.by_client
            .get(client_id)?
            .iter()
            .find(|silence| silence.silences(client_id, alert, at))
            .map(|silence| silence.id)
    }

    /// Whether the client has any silence at all (most have none: nothing to check).
    pub fn has_any(&self, client_id: &str) -> bool {
        self.by_client.contains_key(client_id)
    }
}

/// The silences read last, and when.
#[derive(Default)]
pub struct Silencer {
    last: Mutex<Option<(Instant, Arc<Current>)>>,
}

impl Silencer {
    /// The silences not ended, read again when older than [`REFRESH`].
    pub async fn current<C: ConnectionTrait>(&self, db: &C) -> Result<Arc<Current>, DbErr> {
        if let Some((read_at, current)) = &*self.last.lock().unwrap_or_else(|e| e.into_inner())
            && read_at.elapsed() < REFRESH
        {
            return Ok(current.clone());
        }
        let mut by_client: HashMap<String, Vec<Silence>> = HashMap::new();
        for silence in not_ended(db, None, Utc::now()).await? {
            by_client
                .entry(silence.client_id.clone())
                .or_default()
                .push(silence);
        }
        let current = Arc::new(Current { by_client });
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), current.clone()));
        Ok(current)
    }
}
