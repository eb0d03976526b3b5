//! Silences and maintenance windows over REST: create one for a client, list them by
//! state (pending, active, expired), read one, expire one early. While one applies, a
//! matching alert still makes a notification, recorded SILENCED with the silence's id
//! and not delivered. Senders read silences once a second, so a new or expired one
//! takes effect within 2 s.

use std::collections::BTreeMap;

use alerting_entities::silences;
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AppState, now, owned::find_owned};
use crate::{
    domain::{
        ClientId, FieldPattern, SeverityPattern,
        silence::{MAX_CONTEXT_MATCHERS, Recurrence, SilenceState},
    },
    http::{
        ApiError,
        auth::{Principal, Scope, Visible, who},
        error::FieldContext,
        extract::{ApiJson, ApiQuery},
        pagination::{Page, Paged},
    },
    jobs::silences::from_row,
};

/// What alerts a silence matches: every field given must match (`*` or absent: any).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceMatchers {
    /// LOW, MEDIUM, HIGH, CRITICAL or `*` (the default).
    pub severity: Option<String>,
    /// A source, or `*` (the default).
    pub source: Option<String>,
    /// A name, or `*` (the default).
    pub name: Option<String>,
    /// Top-level context fields the alert must have, with exactly these values (at most
    /// 16).
    pub context: Option<BTreeMap<String, String>>,
}

/// A maintenance window: every week, on `days`, from `start` (local time in
/// `time_zone`) for `duration`, between the silence's `starts_at` and `ends_at`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRecurrence {
    /// mon, tue, wed, thu, fri, sat, sun.
    pub days: Vec<String>,
    /// Local time, HH:MM.
    pub start: String,
    /// Real time, 1 minute to 7 days: `30m`, `2h`, `1h30m`, `1d`.
    pub duration: String,
    /// An IANA time zone such as `Europe/Berlin`; daylight-saving changes are applied.
    pub time_zone: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    pub client_id: String,
    pub matchers: SilenceMatchers,
    /// RFC 3339; default now.
    pub starts_at: Option<DateTime<Utc>>,
    /// RFC 3339, in the future. Required, except for a maintenance window (which then
    /// recurs until expired).
    pub ends_at: Option<DateTime<Utc>>,
    /// Why, for whoever wonders why they were not paged: at most 1,000 characters.
    pub comment: Option<String>,
    /// Who asked for it (default: "admin", or the API key's name).
    pub created_by: Option<String>,
    /// Makes it a maintenance window.
    pub recurrence: Option<SilenceRecurrence>,
}

/// A silence or maintenance window.
#[derive(Debug, Serialize, ToSchema)]
pub struct Silence {
    pub silence_id: Uuid,
    pub client_id: String,
    pub matchers: SilenceMatchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    pub created_by: String,
    pub recurrence: Option<SilenceRecurrence>,
    /// pending (not started), active (between its start and end) or expired.
    pub state: String,
    /// Whether it silences matching alerts now: active, and for a maintenance window,
    /// inside one of its windows.
    pub silencing_now: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Silence {
    fn of(row: silences::Model, at: DateTime<Utc>) -> Self {
        let parsed = from_row(&row);
        let (state, silencing_now) = parsed.as_ref().map_or((SilenceState::Expired, false), |s| {
            (s.state(at), s.silences_at(at))
        });
        let recurrence = match (
            row.recurrence_days,
            row.recurrence_start,
            row.recurrence_duration_seconds,
            row.recurrence_time_zone,
        ) {
            (Some(days), Some(start), Some(seconds), Some(time_zone)) => Some(SilenceRecurrence {
                days: days.split(',').map(str::to_owned).collect(),
                start,
                duration: duration_text(i64::from(seconds)),
                time_zone,
            }),
            _ => None,
        };
        Self {
            silence_id: row.id,
            client_id: row.client_id,
            matchers: SilenceMatchers {
                severity: Some(row.severity),
                source: Some(row.source),
                name: Some(row.name),
                context: Some(serde_json::from_value(row.context).unwrap_or_default()),
            },
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            comment: row.comment,
            created_by: row.created_by,
            recurrence,
            state: state.as_str().to_owned(),
            silencing_now,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<silences::Model> for Silence {
    fn from(row: silences::Model) -> Self {
        Self::of(row, Utc::now())
    }
}

/// "1h30m", "8h", "45m", "1d2h".
fn duration_text(seconds: i64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    let mut text = String::new();
    for (amount, unit) in [(days, "d"), (hours, "h"), (minutes, "m")] {
        if amount > 0 {
            text.push_str(&format!("{amount}{unit}"));
        }
    }
    if text.is_empty() {
        "0m".to_owned()
    } else {
        text
    }
}

fn check_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(value) if value.trim().is_empty() || value.chars().count() > max => {
            Err(ApiError::invalid(
                field,
                format!("must be 1–{max} characters, not only spaces"),
            ))
        }
        Some(value) if value.chars().any(|c| c.is_control() && c != '\n') => Err(
            ApiError::invalid(field, "must not contain control characters"),
        ),
        other => Ok(other),
    }
}

/// Create a silence, or (with `recurrence`) a maintenance window, for a client.
#[utoipa::path(post, path = "/api/v1/silences", tag = "silences",
    request_body = CreateSilence,
    responses((status = 201, body = Silence, description = "Created; senders apply it within 2 s")))]
pub async fn create_silence(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CreateSilence>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    principal.require(Scope::Manage)?;
    let client_id = ClientId::parse(&input.client_id).field("client_id")?;
    if !principal.sees(client_id.as_str()) {
        return Err(ApiError::not_found("client", client_id.as_str()));
    }
    let matchers = &input.matchers;
    let severity = SeverityPattern::parse(matchers.severity.as_deref().unwrap_or("*"))
        .field("matchers.severity")?;
    let source =
        FieldPattern::parse(matchers.source.as_deref().unwrap_or("*")).field("matchers.source")?;
    let name =
        FieldPattern::parse(matchers.name.as_deref().unwrap_or("*")).field("matchers.name")?;
    let context = input.matchers.context.clone().unwrap_or_default();
    if context.len() > MAX_CONTEXT_MATCHERS || context.keys().any(String::is_empty) {
        return Err(ApiError::invalid(
            "matchers.context",
            format!("at most {MAX_CONTEXT_MATCHERS} fields, each with a name"),
        ));
    }
    let recurrence = input
        .recurrence
        .as_ref()
        .map(|r| Recurrence::parse(&r.days, &r.start, &r.duration, &r.time_zone))
        .transpose()
        .map_err(|(field, err)| ApiError::invalid(field, err.0))?;
    let at = now();
    let starts_at = input.starts_at.unwrap_or(at);
    match input.ends_at {
        None if recurrence.is_none() => {
            return Err(ApiError::invalid(
                "ends_at",
                "a silence needs an end (only a maintenance window may recur until expired)",
            ));
        }
        Some(end) if end <= starts_at || end <= at => {
            return Err(ApiError::invalid(
                "ends_at",
                "must be after starts_at, and in the future",
            ));
        }
        _ => {}
    }
    let comment = check_text("comment", input.comment, 1_000)?;
    let created_by = match check_text("created_by", input.created_by, 255)? {
        Some(created_by) => created_by,
        None => who(&state.db, &principal).await?,
    };
    let row = silences::Model {
        id: Uuid::now_v7(),
        client_id: client_id.into_string(),
        severity: severity.as_str().to_owned(),
        source: source.as_str().to_owned(),
        name: name.as_str().to_owned(),
        context: serde_json::to_value(&context).unwrap_or_default(),
        starts_at,
        ends_at: input.ends_at,
        comment,
        created_by,
        recurrence_days: recurrence.as_ref().map(|r| r.day_names().join(",")),
        recurrence_start: recurrence
            .as_ref()
            .map(|r| r.start.format("%H:%M").to_string()),
        recurrence_duration_seconds: recurrence
            .as_ref()
            .and_then(|r| i32::try_from(r.duration.num_seconds()).ok()),
        recurrence_time_zone: recurrence.as_ref().map(|r| r.time_zone.name().to_owned()),
        created_at: at,
        updated_at: at,
    };
    let inserted = silences::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(&state.db)
        .await;
    if let Err(err) = inserted {
        return Err(if super::is_foreign_key_violation(&err) {
            ApiError::not_found("client", &row.client_id)
        } else {
            err.into()
        });
    }
    Ok((StatusCode::CREATED, Json(Silence::of(row, Utc::now()))))
}

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceStateFilter {
    Pending,
    Active,
    Expired,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SilenceFilter {
    /// 1–200, default 50.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
    /// Only this client's silences.
    pub client_id: Option<String>,
    /// pending, active or expired.
    #[param(inline)]
    pub state: Option<SilenceStateFilter>,
}

/// List silences and maintenance windows, newest first.
#[utoipa::path(get, path = "/api/v1/silences", tag = "silences",
    params(SilenceFilter),
    responses((status = 200, body = Paged<Silence>, description = "A page of silences, newest first")))]
pub async fn list_silences(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<SilenceFilter>,
) -> Result<Json<Paged<Silence>>, ApiError> {
    principal.require(Scope::Manage)?;
    let page = Page::new(filter.limit, filter.offset)?;
    let Visible::As(client_id) = principal.visible(filter.client_id) else {
        return Ok(Json(page.empty()));
    };
    let at = Utc::now();
    let mut select = silences::Entity::find();
    if let Some(client_id) = client_id {
        select = select.filter(silences::Column::ClientId.eq(client_id));
    }
    let not_ended = Condition::any()
        .add(silences::Column::EndsAt.is_null())
        .add(silences::Column::EndsAt.gt(at));
    select = match filter.state {
        Some(SilenceStateFilter::Pending) => select
            .filter(silences::Column::StartsAt.gt(at))
            .filter(not_ended),
        Some(SilenceStateFilter::Active) => select
            .filter(silences::Column::StartsAt.lte(at))
            .filter(not_ended),
        Some(SilenceStateFilter::Expired) => select.filter(silences::Column::EndsAt.lte(at)),
        None => select,
    };
    let select = select
        .order_by_desc(silences::Column::CreatedAt)
        .order_by_desc(silences::Column::Id);
    Ok(Json(page.fetch(&state.db, select).await?))
}

/// Get a silence or maintenance window.
#[utoipa::path(get, path = "/api/v1/silences/{silence_id}", tag = "silences",
    params(("silence_id" = Uuid, Path)),
    responses((status = 200, body = Silence, description = "The silence")))]
pub async fn get_silence(
    State(state): State<AppState>,
    principal: Principal,
    Path(silence_id): Path<String>,
) -> Result<Json<Silence>, ApiError> {
    let row = find_owned::<silences::Entity>(&state, &principal, &silence_id).await?;
    Ok(Json(Silence::of(row, Utc::now())))
}

/// Expire a silence or maintenance window now (one expired already stays as it is).
/// Senders stop applying it within 2 s.
#[utoipa::path(post, path = "/api/v1/silences/{silence_id}/expire", tag = "silences",
    params(("silence_id" = Uuid, Path)),
    responses((status = 200, body = Silence, description = "Expired (now or before)")))]
pub async fn expire_silence(
    State(state): State<AppState>,
    principal: Principal,
    Path(silence_id): Path<String>,
) -> Result<Json<Silence>, ApiError> {
    let row = find_owned::<silences::Entity>(&state, &principal, &silence_id).await?;
    let at = now();
    if row.ends_at.is_some_and(|end| end <= at) {
        return Ok(Json(Silence::of(row, Utc::now())));
    }
    // A pending one ends before it began: it starts now, too.
    silences::Entity::update_many()
        .col_expr(silences::Column::EndsAt, Expr::value(at))
        .col_expr(
            silences::Column::StartsAt,
            Expr::value(row.starts_at.min(at)),
        )
        .col_expr(silences::Column::UpdatedAt, Expr::value(at))
        .filter(silences::Column::Id.eq(row.id))
        .exec(&state.db)
        .await?;
    let stored = silences::Entity::find_by_id(row.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("silence", silence_id))?;
    Ok(Json(Silence::of(stored, Utc::now())))
}
