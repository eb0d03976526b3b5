//! `GET /api/v1/overview`: the last hour at a glance, for the console's first page:
//! notifications made per 5 minutes by status (how delivery went), how many are open
//! and acknowledged now, and how many of the hour's failed, read from the database (the
//! same whichever rule-service answers, in both modes); and for the admin, the
//! process's own counters over the hour (`crate::history`: the platform's in embedded
//! mode).

use std::collections::BTreeMap;

use alerting_entities::notifications;
use axum::{Json, extract::State};
use chrono::{DateTime, Duration, DurationRound, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use crate::http::{
    ApiError,
    auth::{Principal, Scope, Visible},
    extract::ApiQuery,
};

/// The window, and the width of each bar of it.
const WINDOW_MINUTES: i64 = 60;
const BUCKET_MINUTES: i64 = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewFilter {
    /// One client's (a client key always sees its own).
    pub client_id: Option<String>,
}

/// Five minutes of the last hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    /// Notifications made in it, by status (SENT, PARTIAL, FAILED, NO_ENDPOINTS,
    /// SILENCED, PENDING); statuses with none are left out.
    pub notifications: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub window_minutes: i64,
    pub bucket_minutes: i64,
    /// Oldest first; the last one is the current five minutes.
    pub buckets: Vec<Bucket>,
    /// Notifications open (neither acknowledged nor resolved) now, of any age.
    pub open: u64,
    /// Acknowledged and not yet resolved, now.
    pub acknowledged: u64,
    /// Of the hour's notifications, those whose delivery failed everywhere (FAILED)…
    pub failed: u64,
    /// …and those it failed for some of their endpoints (PARTIAL).
    pub partial: u64,
    /// The process's own counters over the last hour (alerts in, deliveries failed,
    /// endpoints marked down, dead letters, consumer lag): the platform's in embedded
    /// mode; in distributed mode, each service's `/metrics` has its own. All clients'
    /// together: shown to the admin token only.
    pub process: Option<crate::history::Recent>,
}

/// The last hour at a glance.
#[utoipa::path(get, path = "/api/v1/overview", tag = "notifications", params(OverviewFilter),
    responses((status = 200, body = Overview, description = "The last hour, in 5-minute buckets, and the notifications open now")))]
pub async fn overview(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<OverviewFilter>,
) -> Result<Json<Overview>, ApiError> {
    principal.require(Scope::Manage)?;
    let visible = principal.visible(filter.client_id);
    let scoped = |select: Select<notifications::Entity>| match &visible {
        Visible::As(Some(client_id)) => {
            Some(select.filter(notifications::Column::ClientId.eq(client_id.as_str())))
        }
        Visible::As(None) => Some(select),
        Visible::Nothing => None,
    };
    let now = Utc::now();
    let bucket = Duration::minutes(BUCKET_MINUTES);
    let first = now.duration_trunc(bucket).unwrap_or(now)
        - Duration::minutes(WINDOW_MINUTES - BUCKET_MINUTES);
    let mut buckets = Vec::new();
    let (mut failed, mut partial) = (0, 0);
    for index in 0..(WINDOW_MINUTES / BUCKET_MINUTES) {
        let start = first + bucket * i32::try_from(index).unwrap_or(0);
        let mut counts = BTreeMap::new();
        if let Some(select) = scoped(notifications::Entity::find()) {
            let rows: Vec<(String, i64)> = select
                .filter(notifications::Column::CreatedAt.gte(start))
                .filter(notifications::Column::CreatedAt.lt(start + bucket))
                .select_only()
                .column(notifications::Column::Status)
                .column_as(notifications::Column::Id.count(), "count")
                .group_by(notifications::Column::Status)
                .into_tuple()
                .all(&state.db)
                .await?;
            for (status, count) in rows {
                let count = u64::try_from(count).unwrap_or(0);
                match status.as_str() {
                    "FAILED" => failed += count,
                    "PARTIAL" => partial += count,
                    _ => {}
                }
                counts.insert(status, count);
            }
        }
        buckets.push(Bucket {
            start,
            notifications: counts,
        });
    }
    let count = |select: Option<Select<notifications::Entity>>| async {
        match select {
            Some(select) => select.count(&state.db).await,
            None => Ok(0),
        }
    };
    let unresolved = notifications::Column::ResolvedAt.is_null();
    let open = count(scoped(
        notifications::Entity::find()
            .filter(unresolved.clone())
            .filter(notifications::Column::AcknowledgedAt.is_null()),
    ))
    .await?;
    let acknowledged = count(scoped(
        notifications::Entity::find()
            .filter(unresolved)
            .filter(notifications::Column::AcknowledgedAt.is_not_null()),
    ))
    .await?;
    let process = match (&state.history, &principal) {
        (Some(history), Principal::Admin) => {
            Some(history.recent(crate::metrics::metrics(), now, state.whole_platform))
        }
        _ => None,
    };
    Ok(Json(Overview {
        process,
        window_minutes: WINDOW_MINUTES,
        bucket_minutes: BUCKET_MINUTES,
        buckets,
        open,
        acknowledged,
        failed,
        partial,
    }))
}
