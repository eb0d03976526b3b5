//! Alert ingestion (`POST /api/v1/alerts`): one alert or a batch, each parsed and
//! checked at the edge, published on `alerts.new`, and answered 202 only once the bus
//! has acknowledged every one.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AlertProducerState;
use crate::{
    domain::{Alert, AlertParts, ClientId, MAX_BATCH},
    events::AlertEvent,
    http::{
        ApiError,
        auth::{Principal, Scope},
        error::{ErrorBody, ItemError},
        extract::{decode_json_value, field_error, json_body},
    },
};

/// An alert as a producer sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertInput {
    /// Optional: a UUID is generated when absent. Alerts with the same id are one alert.
    pub alert_id: Option<String>,
    /// RFC 3339; default now.
    pub event_ts: Option<String>,
    /// LOW, MEDIUM, HIGH or CRITICAL, any case.
    pub severity: String,
    /// 1–255 characters.
    pub source: String,
    /// 1–255 characters.
    pub name: String,
    /// At most 64 keys, 16 KiB in all.
    pub context: Option<BTreeMap<String, String>>,
    /// 1–255 characters: "the same problem again". While the client's notification
    /// with this key is open, further alerts with it count as occurrences of that
    /// notification instead of making new ones (and are not delivered again).
    pub dedup_key: Option<String>,
    /// firing (the default), or resolved: the problem is over, and the client's open
    /// notification with this `dedup_key` (required then) is resolved, its resolution
    /// delivered to every endpoint that took it.
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub accepted: usize,
    pub alert_ids: Vec<String>,
    /// true: posted to the shared feed (the admin token or a shared key), matched against
    /// every client's rules; false: the alerts belong to the key's client, and only its
    /// rules see them.
    pub shared: bool,
}

/// Parses one alert or an array of alerts, reporting every invalid item.
pub fn parse_alerts(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Alert>, ApiError> {
    let value = decode_json_value(body)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        object @ serde_json::Value::Object(_) => vec![object],
        _ => {
            return Err(ApiError::invalid(
                "body",
                "must be an alert object or an array of alerts",
            ));
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid("body", "must hold at least one alert"));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "body",
            format!(
                "at most {MAX_BATCH} alerts per request (got {})",
                items.len()
            ),
        ));
    }
    let total = items.len();
    let mut alerts = Vec::with_capacity(total);
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let input: AlertInput = match serde_path_to_error::deserialize(item) {
            Ok(input) => input,
            Err(err) => {
                let path = err.path().to_string();
                if let ApiError::Invalid { field, message } =
                    field_error(&path, err.into_inner().to_string())
                {
                    errors.push(ItemError {
                        index,
                        field,
                        message,
                    });
                }
                continue;
            }
        };
        let parts = AlertParts {
            alert_id: input.alert_id.as_deref(),
            event_ts: input.event_ts.as_deref(),
            severity: &input.severity,
            source: &input.source,
            name: &input.name,
            context: input.context.as_ref(),
            dedup_key: input.dedup_key.as_deref(),
            status: input.status.as_deref(),
        };
        match Alert::parse(parts, now) {
            Ok(alert) => alerts.push(alert),
            Err(fields) => errors.extend(fields.into_iter().map(|e| ItemError {
                index,
                field: e.field.to_owned(),
                message: e.message,
            })),
        }
    }
    if !errors.is_empty() {
        let invalid = {
            let mut indexes: Vec<usize> = errors.iter().map(|e| e.index).collect();
            indexes.dedup();
            indexes.len()
        };
        return Err(ApiError::InvalidBatch {
            invalid,
            total,
            items: errors,
        });
    }
    Ok(alerts)
}

/// Ingest one alert or an array of up to 1,000.
#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts",
    request_body(content = Vec<AlertInput>, description = "One alert object, or an array of up to 1,000"),
    responses(
        (status = 202, body = Accepted, description = "Every alert is on the bus"),
        (status = 422, body = ErrorBody, description = "Some alert is invalid; `items` lists each failure by index"),
        (status = 429, body = ErrorBody, description = "Over INGEST_RATE_LIMIT requests per second for this key; see Retry-After"),
        (status = 503, body = ErrorBody, description = "The bus did not acknowledge, or the pipeline stayed more than INGEST_MAX_BACKLOG messages behind (code `backlogged`, see Retry-After): nothing was accepted")
    ))]
pub async fn ingest(
    State(state): State<AlertProducerState>,
    principal: Principal,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let (owner, body) = admit(&state, &principal, request).await?;
    let alerts = parse_alerts(&body, Utc::now())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(publish(&state, owner, alerts).await?),
    ))
}

/// What every ingest route checks first: a key with `ingest`, under its rate limit; the
/// owner of what it posts.
pub(super) fn allow(
    state: &AlertProducerState,
    principal: &Principal,
) -> Result<Option<ClientId>, ApiError> {
    principal.require(Scope::Ingest)?;
    let owner = principal.alert_owner()?;
    state.limiter.check(&principal.identity())?;
    Ok(owner)
}

/// [`allow`], then a JSON body within the size limit: the owner, and the body.
pub(super) async fn admit(
    state: &AlertProducerState,
    principal: &Principal,
    request: Request,
) -> Result<(Option<ClientId>, axum::body::Bytes), ApiError> {
    let owner = allow(state, principal)?;
    Ok((owner, json_body(request, state).await?))
}

/// Publishes `alerts`, posted with a key of `owner` (or to the shared feed), and
/// answers once the bus has acknowledged every one.
pub(super) async fn publish(
    state: &AlertProducerState,
    owner: Option<ClientId>,
    alerts: Vec<Alert>,
) -> Result<Accepted, ApiError> {
    let alerts: Vec<Alert> = alerts
        .into_iter()
        .map(|alert| alert.owned_by(owner.clone()))
        .collect();
    if let Some(pressure) = &state.backpressure {
        pressure.room().await?;
    }
    let messages = alerts.iter().map(AlertEvent::message).collect();
    state
        .bus
        .publish(messages)
        .await
        .map_err(|err| ApiError::BusUnavailable(err.to_string()))?;
    crate::metrics::metrics()
        .alerts_received
        .add(alerts.len() as u64);
    if tracing::enabled!(tracing::Level::DEBUG) {
        for alert in &alerts {
            tracing::debug!(alert_id = %alert.alert_id, "alert accepted");
        }
    }
    Ok(Accepted {
        accepted: alerts.len(),
        alert_ids: alerts.into_iter().map(|alert| alert.alert_id).collect(),
        shared: owner.is_none(),
    })
}
