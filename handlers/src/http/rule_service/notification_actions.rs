//! What a person does to a notification over REST: retry a FAILED or PARTIAL one,
//! acknowledge one (a person has it), resolve one (it is over). Each needs the admin
//! token or a key of the notification's client with `manage`, and records who.

use alerting_entities::notifications;
use axum::{
    Json,
    extract::{Path, State},
};
use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{AppState, notifications::Notification, owned::find_owned};
use crate::http::{
    ApiError,
    auth::{Principal, Scope, who},
    error::ErrorBody,
};

/// Retry a FAILED or PARTIAL notification: its undelivered endpoints are tried again.
#[utoipa::path(post, path = "/api/v1/notifications/{notification_id}/retry", tag = "notifications",
    params(("notification_id" = Uuid, Path)),
    responses(
        (status = 202, body = Notification, description = "Announced again; now PENDING"),
        (status = 409, body = ErrorBody, description = "Not FAILED or PARTIAL"),
        (status = 503, body = ErrorBody, description = "No bus to announce it on")
    ))]
pub async fn retry_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(notification_id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<Notification>), ApiError> {
    use crate::jobs::redrive::{RedriveError, retry};
    principal.require(Scope::Manage)?;
    let bus = state.bus.as_ref().ok_or_else(|| {
        ApiError::BusUnavailable("this rule-service has no bus (set KAFKA_BROKERS)".to_owned())
    })?;
    let id = find_owned::<notifications::Entity>(&state, &principal, &notification_id)
        .await?
        .id;
    match retry(&state.db, bus.as_ref(), id).await {
        Ok(row) => Ok((axum::http::StatusCode::ACCEPTED, Json(row.into()))),
        Err(RedriveError::NotFound(_)) => Err(ApiError::not_found("notification", notification_id)),
        Err(err @ RedriveError::NotRetryable { .. }) => {
            Err(ApiError::NotRetryable(err.to_string()))
        }
        Err(RedriveError::Database(err)) => Err(err.into()),
        Err(RedriveError::Bus(err)) => Err(ApiError::BusUnavailable(err.to_string())),
    }
}

/// The notification as stored now, after a person's action (theirs, or another's that
/// came first).
async fn reread(
    state: &AppState,
    id: uuid::Uuid,
    asked: &str,
) -> Result<Json<Notification>, ApiError> {
    let stored = notifications::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("notification", asked))?;
    Ok(Json(stored.into()))
}

/// Acknowledge a notification: a person has it. Records who ("admin", or the API key's
/// name) and when; acknowledging it again changes nothing.
#[utoipa::path(post, path = "/api/v1/notifications/{notification_id}/acknowledge", tag = "notifications",
    params(("notification_id" = Uuid, Path)),
    responses((status = 200, body = Notification, description = "Acknowledged (now or before)")))]
pub async fn acknowledge_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(notification_id): Path<String>,
) -> Result<Json<Notification>, ApiError> {
    principal.require(Scope::Manage)?;
    let notification =
        find_owned::<notifications::Entity>(&state, &principal, &notification_id).await?;
    if notification.acknowledged_at.is_some() {
        return Ok(Json(notification.into()));
    }
    let who = who(&state.db, &principal).await?;
    // Only if nobody acknowledged it meanwhile: the first person keeps it.
    crate::jobs::acknowledge::acknowledge(
        &state.db,
        notifications::Entity::update_many().filter(notifications::Column::Id.eq(notification.id)),
        &who,
        Utc::now(),
    )
    .await?;
    reread(&state, notification.id, &notification_id).await
}

/// Resolve a notification: it is over. It no longer holds its dedup key (the key's next
/// alert opens a new notification), and its resolution is delivered to every endpoint
/// that took it. Records who ("admin", or the API key's name) and when; resolving it
/// again changes nothing.
#[utoipa::path(post, path = "/api/v1/notifications/{notification_id}/resolve", tag = "notifications",
    params(("notification_id" = Uuid, Path)),
    responses((status = 200, body = Notification, description = "Resolved (now or before)")))]
pub async fn resolve_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(notification_id): Path<String>,
) -> Result<Json<Notification>, ApiError> {
    use crate::jobs::resolve::{announce, resolve_id};
    principal.require(Scope::Manage)?;
    let notification =
        find_owned::<notifications::Entity>(&state, &principal, &notification_id).await?;
    if notification.resolved_at.is_some() {
        return Ok(Json(notification.into()));
    }
    let who = who(&state.db, &principal).await?;
    // Only if nobody resolved it meanwhile: the first resolution stands.
    if let Some(resolved) = resolve_id(&state.db, notification.id, &who, Utc::now()).await? {
        crate::metrics::metrics().notifications_resolved.inc();
        // Stored is what counts: without a bus, or if publishing fails, the redrive
        // announces the resolution.
        if let Some(bus) = &state.bus
            && let Err(err) = bus.publish(vec![announce(&resolved)]).await
        {
            tracing::warn!(notification_id = %resolved.id, error = %err, "resolution not announced; the redrive will");
        }
    }
    reread(&state, notification.id, &notification_id).await
}
