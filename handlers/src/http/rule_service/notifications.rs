//! Notifications over REST: list and read them with their deliveries (a client sees
//! only its own). What a person does to one (retry, acknowledge, resolve) is in
//! `notification_actions`.

use alerting_entities::{deliveries, notifications, occurrences};
use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AppState, owned::find_owned};
use crate::{
    domain::{Interval, NotificationStatus},
    http::{
        ApiError,
        auth::{Principal, Scope, Visible},
        error::FieldContext,
        extract::ApiQuery,
        pagination::{Page, Paged},
    },
};

/// The alert a notification was made for.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotifiedAlert {
    pub alert_id: String,
    pub severity: String,
    pub source: String,
    pub name: String,
    /// An object of strings.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    pub event_ts: DateTime<Utc>,
    /// The alert's dedup key, if it had one.
    pub dedup_key: Option<String>,
}

/// One notification per (client, alert), or per (client, dedup key) while it is open.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    pub notification_id: Uuid,
    pub client_id: String,
    pub alert_id: String,
    /// PENDING, SENT, PARTIAL, FAILED, NO_ENDPOINTS or SILENCED.
    pub status: String,
    /// true: the alert came from the shared feed every client's rules see; false: the
    /// client posted it itself, and no other client saw it.
    pub shared: bool,
    pub alert: NotifiedAlert,
    /// The client's rules that matched the alert.
    #[schema(value_type = Vec<Uuid>)]
    pub rule_ids: serde_json::Value,
    /// Alerts it stands for: its first, and every later alert with its dedup key that
    /// folded into it while it was open (delivered once, not again).
    pub occurrences: i32,
    /// When its first and its latest alert arrived.
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// open, acknowledged (a person took it) or resolved (it is over).
    pub state: NotificationState,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// "admin", or the name of the API key that acknowledged it.
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// "alert <alert_id>" (a resolved alert with its dedup key), "admin" or an API
    /// key's name (a person).
    pub resolved_by: Option<String>,
    /// The resolution's delivery to the endpoints that took the notification: PENDING,
    /// SENT, PARTIAL, FAILED or NO_ENDPOINTS (none had taken it); none while open.
    pub resolution_status: Option<String>,
    /// The silence or maintenance window that kept it from being delivered (its status
    /// is SILENCED).
    pub silenced_by: Option<Uuid>,
    /// Its rules' shortest `repeat_interval` when it was made: it is delivered again this
    /// often while open and unacknowledged.
    pub repeat_interval: Option<String>,
    /// Its rules' shortest `auto_resolve_after` when it was made: it resolves itself after
    /// that long without an occurrence.
    pub auto_resolve_after: Option<String>,
    /// Repeats so far, and when the next one is due (none once it stops repeating).
    pub repeats: i32,
    pub next_repeat_at: Option<DateTime<Utc>>,
    /// The latest repeat's delivery: PENDING, SENT, PARTIAL, FAILED, NO_ENDPOINTS or
    /// SILENCED; none before the first.
    pub repeat_status: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<notifications::Model> for Notification {
    fn from(model: notifications::Model) -> Self {
        Self {
            notification_id: model.id,
            client_id: model.client_id,
            alert_id: model.alert_id.clone(),
            status: model.status,
            shared: model.shared,
            alert: NotifiedAlert {
                alert_id: model.alert_id,
                severity: model.severity,
                source: model.source,
                name: model.name,
                context: model.context,
                event_ts: model.event_ts,
                dedup_key: model.dedup_key,
            },
            rule_ids: model.rule_ids,
            occurrences: model.occurrences,
            first_seen_at: model.first_seen_at.unwrap_or(model.created_at),
            last_seen_at: model.last_seen_at.unwrap_or(model.created_at),
            state: match (model.resolved_at, model.acknowledged_at) {
                (Some(_), _) => NotificationState::Resolved,
                (None, Some(_)) => NotificationState::Acknowledged,
                (None, None) => NotificationState::Open,
            },
            acknowledged_at: model.acknowledged_at,
            acknowledged_by: model.acknowledged_by,
            resolved_at: model.resolved_at,
            resolved_by: model.resolved_by,
            resolution_status: model.resolution_status,
            silenced_by: model.silenced_by,
            repeat_interval: Interval::stored_text(model.repeat_interval_seconds),
            auto_resolve_after: Interval::stored_text(model.auto_resolve_after_seconds),
            repeats: model.repeats,
            next_repeat_at: model.next_repeat_at,
            repeat_status: model.repeat_status,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

/// Where a notification is in its life, apart from how its delivery went (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationState {
    Open,
    Acknowledged,
    Resolved,
}

/// The delivery of a notification to one endpoint, across all its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    /// firing (the notification) or resolved (its resolution).
    pub phase: String,
    /// webhook, slack or email, as it was when delivered.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address delivered to.
    pub target: String,
    /// RETRYING (attempts remain, or deferred while the endpoint is down), DELIVERED
    /// or FAILED.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub last_http_status: Option<i32>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl From<deliveries::Model> for Delivery {
    fn from(model: deliveries::Model) -> Self {
        Self {
            delivery_id: model.id,
            endpoint_id: model.endpoint_id,
            phase: model.phase,
            kind: model.kind,
            target: model.target,
            status: model.status,
            attempts: model.attempts,
            last_error: model.last_error,
            last_http_status: model.last_http_status,
            delivered_at: model.delivered_at,
            updated_at: model.updated_at,
        }
    }
}

/// An alert folded into a notification (or the resolved alert that closed it: the one
/// `resolved_by` names).
#[derive(Debug, Serialize, ToSchema)]
pub struct FoldedAlert {
    pub alert_id: String,
    pub event_ts: DateTime<Utc>,
    /// When it arrived.
    pub seen_at: DateTime<Utc>,
}

/// The most folded alerts a notification's page lists (newest first); `occurrences`
/// counts them all.
pub const FOLDED_SHOWN: u64 = 100;

/// A notification with its deliveries and the alerts folded into it: its whole record
/// (which rules matched, the silence that kept it back, what folded in, what resolved
/// it and every delivery attempt's outcome).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDetail {
    #[serde(flatten)]
    pub notification: Notification,
    pub deliveries: Vec<Delivery>,
    pub folded: Vec<FoldedAlert>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// 1–200, default 50.
    pub limit: Option<u64>,
    /// Default 0.
    pub offset: Option<u64>,
    /// Only this client's notifications.
    pub client_id: Option<String>,
    /// PENDING, SENT, PARTIAL, FAILED, NO_ENDPOINTS or SILENCED.
    pub status: Option<String>,
    /// Only the notifications of this alert.
    pub alert_id: Option<String>,
    /// open, acknowledged or resolved.
    pub state: Option<NotificationState>,
    /// Only those made at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only those made before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// List notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(NotificationFilter),
    responses((status = 200, body = Paged<Notification>, description = "A page of notifications, newest first")))]
pub async fn list_notifications(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(filter): ApiQuery<NotificationFilter>,
) -> Result<Json<Paged<Notification>>, ApiError> {
    principal.require(Scope::Manage)?;
    let page = Page::new(filter.limit, filter.offset)?;
    let Visible::As(client_id) = principal.visible(filter.client_id) else {
        return Ok(Json(page.empty()));
    };
    let mut select = notifications::Entity::find();
    if let Some(client_id) = client_id {
        select = select.filter(notifications::Column::ClientId.eq(client_id));
    }
    if let Some(status) = filter.status {
        let status: NotificationStatus = status.parse().field("status")?;
        select = select.filter(notifications::Column::Status.eq(status.as_str()));
    }
    if let Some(alert_id) = filter.alert_id {
        select = select.filter(notifications::Column::AlertId.eq(alert_id));
    }
    if let Some(since) = filter.since {
        select = select.filter(notifications::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(notifications::Column::CreatedAt.lt(until));
    }
    select = match filter.state {
        Some(NotificationState::Open) => select
            .filter(notifications::Column::ResolvedAt.is_null())
            .filter(notifications::Column::AcknowledgedAt.is_null()),
        Some(NotificationState::Acknowledged) => select
            .filter(notifications::Column::ResolvedAt.is_null())
            .filter(notifications::Column::AcknowledgedAt.is_not_null()),
        Some(NotificationState::Resolved) => {
            select.filter(notifications::Column::ResolvedAt.is_not_null())
        }
        None => select,
    };
    let select = select
        .order_by_desc(notifications::Column::CreatedAt)
        .order_by_desc(notifications::Column::Id);
    Ok(Json(page.fetch(&state.db, select).await?))
}

/// Get a notification with its deliveries.
#[utoipa::path(get, path = "/api/v1/notifications/{notification_id}", tag = "notifications",
    params(("notification_id" = Uuid, Path)),
    responses((status = 200, body = NotificationDetail, description = "The notification with its alert, deliveries and folded alerts")))]
pub async fn get_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(notification_id): Path<String>,
) -> Result<Json<NotificationDetail>, ApiError> {
    let notification =
        find_owned::<notifications::Entity>(&state, &principal, &notification_id).await?;
    let id = notification.id;
    let deliveries = deliveries::Entity::find()
        .filter(deliveries::Column::NotificationId.eq(id))
        .order_by_asc(deliveries::Column::CreatedAt)
        .order_by_asc(deliveries::Column::Id)
        .all(&state.db)
        .await?;
    let folded = occurrences::Entity::find()
        .filter(occurrences::Column::NotificationId.eq(id))
        .order_by_desc(occurrences::Column::SeenAt)
        .limit(FOLDED_SHOWN)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|o| FoldedAlert {
            alert_id: o.alert_id,
            event_ts: o.event_ts,
            seen_at: o.seen_at,
        })
        .collect();
    Ok(Json(NotificationDetail {
        notification: notification.into(),
        deliveries: deliveries.into_iter().map(Delivery::from).collect(),
        folded,
    }))
}
