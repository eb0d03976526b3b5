//! CloudWatch alarms through Amazon SNS (`POST /api/v1/integrations/sns`): an HTTPS
//! subscription of an SNS topic points here, with a client's ingest key in the URL
//! (SNS sets no header). Each message is verified as Amazon's first
//! (`crate::integrations::sns`); then a subscription is confirmed, or an alarm's state
//! change fires or resolves like any alert.

use axum::{
    Json,
    extract::{Request, State},
};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AlertProducerState, ingest::allow, integrations::publish_from};
use crate::{
    http::{
        ApiError,
        auth::KeyInUrl,
        error::ErrorBody,
        extract::{body, decode_json_object},
    },
    integrations::sns::{Received, SnsError, SnsMessage},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct SnsAnswer {
    /// `confirmed` (a subscription), `unsubscribed`, `accepted` (an alarm's state
    /// change, on the bus) or `ignored` (an alarm's `INSUFFICIENT_DATA`).
    pub status: &'static str,
    /// The alert an alarm's state change made (`accepted` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_ids: Vec<String>,
}

impl SnsAnswer {
    fn status(status: &'static str) -> Json<Self> {
        Json(Self {
            status,
            alert_ids: Vec::new(),
        })
    }
}

/// Amazon SNS's messages to an HTTPS subscription: subscribe
/// `https://<alert-producer>/api/v1/integrations/sns?key=<ingest key>` to the topic
/// your CloudWatch alarms notify. The subscription confirms itself; an alarm's `ALARM`
/// fires and its `OK` resolves, by the alarm's ARN. Every message's signature is
/// checked against its signing certificate, fetched over HTTPS from an SNS host only.
#[utoipa::path(post, path = "/api/v1/integrations/sns", tag = "integrations",
    params(("key" = Option<String>, Query, description = "A client's ingest key, for senders that cannot set a header (SNS); or send `Authorization: Bearer` as elsewhere. Never logged.")),
    request_body(content = SnsMessage, description = "An SNS message: JSON (SNS labels it text/plain; the route reads any content type as JSON)"),
    responses(
        (status = 200, body = SnsAnswer, description = "Verified and done: confirmed, unsubscribed, accepted or ignored"),
        (status = 403, body = ErrorBody, description = "Not Amazon's: the signature does not match, or a URL in the message is not an SNS host's; nothing was done"),
        (status = 422, body = ErrorBody, description = "Amazon's, but not an alarm's state change; `field` names what is wrong"),
        (status = 429, body = ErrorBody, description = "Over INGEST_RATE_LIMIT requests per second for this key; see Retry-After"),
        (status = 503, body = ErrorBody, description = "The signing certificate or the confirmation could not be fetched, the bus did not acknowledge, or the pipeline is more than INGEST_MAX_BACKLOG messages behind: SNS retries")
    ))]
pub async fn sns_message(
    State(state): State<AlertProducerState>,
    KeyInUrl(principal): KeyInUrl,
    request: Request,
) -> Result<Json<SnsAnswer>, ApiError> {
    let owner = allow(&state, &principal)?;
    let Some(sns) = state.sns.clone() else {
        return Err(ApiError::Unavailable(
            "this alert-producer was started without an SNS receiver".to_owned(),
        ));
    };
    let message: SnsMessage = decode_json_object(&body(request, &state).await?)?;
    let received = sns.receive(&message, Utc::now()).await.map_err(|err| {
        tracing::warn!(topic_arn = %message.topic_arn, kind = %message.kind, error = %err, "SNS message refused");
        match err {
            SnsError::Unverified(err) => ApiError::Unverified(err.to_string()),
            SnsError::Unreachable(err) => ApiError::Unavailable(err),
            SnsError::Invalid { field, message } => ApiError::invalid(field, message),
        }
    })?;
    Ok(match received {
        Received::Confirmed => {
            tracing::info!(topic_arn = %message.topic_arn, "SNS subscription confirmed");
            SnsAnswer::status("confirmed")
        }
        Received::Unsubscribed => {
            tracing::info!(topic_arn = %message.topic_arn, "SNS subscription ended");
            SnsAnswer::status("unsubscribed")
        }
        Received::Alarm(None) => SnsAnswer::status("ignored"),
        Received::Alarm(Some(alert)) => {
            let accepted = publish_from("sns", &state, owner, vec![alert]).await?;
            Json(SnsAnswer {
                status: "accepted",
                alert_ids: accepted.alert_ids,
            })
        }
    })
}
