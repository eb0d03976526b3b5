//! The integrations' routes: each takes a tool's own payload (`crate::integrations`
//! turns it into our alerts) with the same key, scopes, rate limit, size limit and
//! validation as `POST /api/v1/alerts`, and publishes it the same way.

use axum::{
    Json,
    extract::{Request, State},
};
use chrono::Utc;

use super::{
    AlertProducerState,
    ingest::{Accepted, admit, publish},
};
use crate::{
    http::{ApiError, auth::Principal, error::ErrorBody, extract::decode_json_value},
    integrations::{
        alertmanager::{self, WebhookMessage},
        prometheus::{self, PostableAlert},
    },
};

/// What every integration's route answers.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only its description is used: the routes answer `ApiError`.
enum Answers {
    /// Every alert is on the bus.
    #[response(status = 200)]
    Accepted(#[to_schema] Accepted),
    /// Some alert is invalid; `items` lists each failure by index and field.
    #[response(status = 422)]
    Invalid(#[to_schema] ErrorBody),
    /// Over INGEST_RATE_LIMIT requests per second for this key; see Retry-After.
    #[response(status = 429)]
    RateLimited(#[to_schema] ErrorBody),
    /// The bus did not acknowledge.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}

/// Prometheus's alerts, as it posts them to an Alertmanager (its v2 API): name this
/// alert-producer in Prometheus's `alerting.alertmanagers`, with an ingest key as its
/// bearer credentials. Each label set is a dedup key; an `endsAt` in the past resolves.
#[utoipa::path(post, path = "/api/v2/alerts", tag = "integrations",
    request_body(content = Vec<PostableAlert>, description = "Alertmanager's postable alerts, up to 1,000"),
    responses(Answers))]
pub async fn prometheus_alerts(
    State(state): State<AlertProducerState>,
    principal: Principal,
    request: Request,
) -> Result<Json<Accepted>, ApiError> {
    let (owner, body) = admit(&state, &principal, request).await?;
    let serde_json::Value::Array(items) = decode_json_value(&body)? else {
        return Err(ApiError::invalid("body", "must be an array of alerts"));
    };
    if items.len() > super::MAX_BATCH {
        return Err(ApiError::invalid(
            "body",
            format!(
                "at most {} alerts per request (got {})",
                super::MAX_BATCH,
                items.len()
            ),
        ));
    }
    let alerts = prometheus::parse(items, Utc::now())?;
    Ok(Json(publish(&state, owner, alerts).await?))
}

/// Alertmanager's webhook: point a receiver's `webhook_configs` here, with an ingest key
/// as its `http_config.authorization.credentials`. Each alert of the group fires or
/// resolves by its own status; its fingerprint is the dedup key.
#[utoipa::path(post, path = "/api/v1/integrations/alertmanager", tag = "integrations",
    request_body(content = WebhookMessage, description = "Alertmanager's webhook body (version 4)"),
    responses(Answers))]
pub async fn alertmanager_webhook(
    State(state): State<AlertProducerState>,
    principal: Principal,
    request: Request,
) -> Result<Json<Accepted>, ApiError> {
    webhook(state, principal, request, "alertmanager").await
}

/// Grafana's webhook contact point: its URL here, an ingest key as its authorization
/// header's credentials (scheme Bearer). Grafana's alerts fire and resolve as
/// Alertmanager's do; their dashboard, panel and silence links go into the context.
#[utoipa::path(post, path = "/api/v1/integrations/grafana", tag = "integrations",
    request_body(content = WebhookMessage, description = "Grafana's webhook body"),
    responses(Answers))]
pub async fn grafana_webhook(
    State(state): State<AlertProducerState>,
    principal: Principal,
    request: Request,
) -> Result<Json<Accepted>, ApiError> {
    webhook(state, principal, request, "grafana").await
}

/// A webhook group's alerts, `default_source` where their labels name none.
async fn webhook(
    state: AlertProducerState,
    principal: Principal,
    request: Request,
    default_source: &'static str,
) -> Result<Json<Accepted>, ApiError> {
    let (owner, body) = admit(&state, &principal, request).await?;
    let alerts = alertmanager::parse(decode_json_value(&body)?, default_source, Utc::now())?;
    Ok(Json(publish(&state, owner, alerts).await?))
}
