//! `POST /api/v1/endpoints/{endpoint_id}/test`: one delivery of a test notification to
//! an endpoint, now, through the same channel (webhook, Slack, email) and with the
//! same signature as a real one, answering how it went and what the receiver said.
//! Nothing is stored: it is no notification, and no retry follows.

use std::{collections::BTreeMap, time::Instant};

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, endpoints::find_endpoint_and_rule};
use crate::{
    domain::{AlertStatus, EndpointKind},
    events::AlertBody,
    http::{ApiError, auth::Principal, error::ErrorBody},
    ports::{Attempt, NotificationPayload, Target},
};

/// How a test delivery went.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestDelivery {
    /// Whether the receiver took it.
    pub delivered: bool,
    /// The receiver's HTTP status (webhook, Slack).
    pub http_status: Option<u16>,
    /// Why not, when it was not (the target's secrets left out).
    pub error: Option<String>,
    /// Whether a real delivery would be tried again after this answer.
    pub retryable: bool,
    pub duration_ms: u64,
    /// The test alert's id, as the receiver saw it.
    pub alert_id: String,
}

/// Send a test notification to an endpoint now, and say how it went.
#[utoipa::path(post, path = "/api/v1/endpoints/{endpoint_id}/test", tag = "endpoints",
    params(("endpoint_id" = Uuid, Path)),
    responses(
        (status = 200, body = TestDelivery, description = "Tried once: `delivered` says whether the receiver took it, `http_status` and `error` what it answered"),
        (status = 503, body = ErrorBody, description = "This rule-service has no delivery channels")
    ))]
pub async fn test_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(endpoint_id): Path<String>,
) -> Result<Json<TestDelivery>, ApiError> {
    let (endpoint, rule) = find_endpoint_and_rule(&state, &principal, &endpoint_id).await?;
    let Some(channel) = state.channel.clone() else {
        return Err(ApiError::Unavailable(
            "this rule-service was started without delivery channels".to_owned(),
        ));
    };
    let client_id = rule.client_id;
    // Stored through the API's parser: only a row written behind its back fails here.
    let kind = endpoint.kind.parse::<EndpointKind>().map_err(|err| {
        ApiError::Database(sea_orm::DbErr::Custom(format!("endpoint type: {}", err.0)))
    })?;
    let alert_id = format!("test-{}", Uuid::now_v7());
    let now = Utc::now();
    let payload = NotificationPayload {
        notification_id: Uuid::now_v7(),
        client_id: client_id.clone(),
        shared: false,
        alert: AlertBody {
            owner: Some(client_id),
            alert_id: alert_id.clone(),
            event_ts: now,
            severity: "LOW".to_owned(),
            source: "alerting".to_owned(),
            name: "Test delivery".to_owned(),
            context: BTreeMap::from([(
                "test".to_owned(),
                "a test of this endpoint: no alert fired".to_owned(),
            )]),
            dedup_key: None,
            status: AlertStatus::Firing,
        },
        rule_ids: vec![endpoint.rule_id],
        created_at: now,
        resolution: None,
        repeat: None,
    };
    let target = Target {
        endpoint_id: endpoint.id,
        kind,
        value: endpoint.value,
        secret: endpoint.secret,
    };
    let started = Instant::now();
    let attempt = channel.deliver(&payload, &target, &alert_id).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (delivered, http_status, error, retryable) = match attempt {
        Attempt::Delivered { http_status } => (true, http_status, None, false),
        Attempt::Retryable {
            error, http_status, ..
        } => (false, http_status, Some(error), true),
        Attempt::Permanent { error, http_status } => (false, http_status, Some(error), false),
    };
    Ok(Json(TestDelivery {
        delivered,
        http_status,
        error,
        retryable,
        duration_ms,
        alert_id,
    }))
}
