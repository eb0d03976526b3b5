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
    integrations::prometheus::{self, PostableAlert},
};

/// Prometheus's alerts, as it posts them to an Alertmanager (its v2 API): name this
/// alert-producer in Prometheus's `alerting.alertmanagers`, with an ingest key as its
/// bearer credentials. Each label set is a dedup key; an `endsAt` in the past resolves.
#[utoipa::path(post, path = "/api/v2/alerts", tag = "integrations",
    request_body(content = Vec<PostableAlert>, description = "Alertmanager's postable alerts, up to 1,000"),
    responses(
        (status = 200, body = Accepted, description = "Every alert is on the bus"),
        (status = 422, body = ErrorBody, description = "Some alert is invalid; `items` lists each failure by index and field"),
        (status = 429, body = ErrorBody, description = "Over INGEST_RATE_LIMIT requests per second for this key; see Retry-After"),
        (status = 503, body = ErrorBody, description = "The bus did not acknowledge")
    ))]
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
