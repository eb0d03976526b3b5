//! Webhooks: the notification as JSON, signed with the endpoint's secret (when it has
//! one) and carrying its idempotency key, so that a receiver can check who sent it and
//! drop a second copy.

use alerting_handlers::{
    domain::AlertStatus,
    ports::{Attempt, NotificationPayload, Target},
    signature::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign},
};
use chrono::Utc;
use serde::Serialize;

use super::http::{classify, transport_error};

/// The JSON body a webhook receives.
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    notification_id: uuid::Uuid,
    client_id: &'a str,
    /// true: the alert came from the shared feed; false: the client posted it itself
    /// (and then `alert.owner` is the client).
    shared: bool,
    alert: &'a alerting_handlers::events::AlertBody,
    rule_ids: &'a [uuid::Uuid],
    created_at: chrono::DateTime<Utc>,
    sent_at: chrono::DateTime<Utc>,
    /// firing: the notification; resolved: its resolution (a delivery of its own, with
    /// its own idempotency key), with when and how long it lasted.
    status: AlertStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_at: Option<chrono::DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<u64>,
    /// A repeat of a notification still firing (its rule's `repeat_interval`): which
    /// one, from 1, each with its own idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<i32>,
}

pub(super) async fn deliver(
    http: &reqwest::Client,
    payload: &NotificationPayload,
    target: &Target,
    key: &str,
) -> Attempt {
    let now = Utc::now();
    let body = WebhookBody {
        notification_id: payload.notification_id,
        client_id: &payload.client_id,
        shared: payload.shared,
        alert: &payload.alert,
        rule_ids: &payload.rule_ids,
        created_at: payload.created_at,
        sent_at: now,
        status: payload.alert.status,
        resolved_at: payload.resolution.as_ref().map(|r| r.resolved_at),
        duration_seconds: payload.resolution.as_ref().map(|r| r.lasted.as_secs()),
        repeat: payload.repeat,
    };
    let body = match serde_json::to_vec(&body) {
        Ok(body) => body,
        Err(err) => {
            return Attempt::Permanent {
                error: err.to_string(),
                http_status: None,
            };
        }
    };
    let timestamp = now.timestamp();
    let mut request = http
        .post(&target.value)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, key)
        .header(TIMESTAMP_HEADER, timestamp.to_string());
    if let Some(secret) = &target.secret {
        request = request.header(SIGNATURE_HEADER, sign(secret, timestamp, &body));
    }
    match request.body(body).send().await {
        Ok(response) => classify(&response),
        Err(err) => transport_error(err),
    }
}
