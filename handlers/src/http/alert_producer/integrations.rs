//! The integrations' routes: each takes a tool's own payload (`crate::integrations`
//! turns it into our alerts) with the same key, scopes, rate limit, size limit and
//! validation as `POST /api/v1/alerts`, and publishes it the same way. PagerDuty's
//! carries its key in the body and answers in PagerDuty's shape.

use alerting_entities::clients;
use axum::{
    Json,
    extract::{Request, State},
    http::StatusCode,
};
use chrono::Utc;
use sea_orm::{EntityTrait, QuerySelect};

use super::{
    AlertProducerState,
    ingest::{Accepted, admit, publish},
};
use crate::{
    domain::{ClientId, LabelMapping},
    http::{
        ApiError,
        auth::{Principal, Scope, who},
        error::ErrorBody,
        extract::decode_json_value,
    },
    integrations::{
        alertmanager::{self, WebhookMessage},
        pagerduty::{self, Action, Event, EventAnswer},
        prometheus::{self, PostableAlert},
    },
    jobs::acknowledge::acknowledge_key,
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
    /// The bus did not acknowledge, or the pipeline stayed more than INGEST_MAX_BACKLOG
    /// messages behind (code `backlogged`, see Retry-After): nothing was accepted.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}

/// Publishes alerts that came through `integration`, and counts them by it.
pub(super) async fn publish_from(
    integration: &str,
    state: &AlertProducerState,
    owner: Option<crate::domain::ClientId>,
    alerts: Vec<crate::domain::Alert>,
) -> Result<Accepted, ApiError> {
    let accepted = publish(state, owner, alerts).await?;
    crate::metrics::metrics().alerts_integrated(integration, accepted.accepted as u64);
    Ok(accepted)
}

/// Which labels give `owner`'s alerts their severity, source and name: its own label
/// mapping, or the defaults (for the shared feed, or without a database). One indexed
/// read per request, not per alert.
async fn label_mapping(
    state: &AlertProducerState,
    owner: Option<&ClientId>,
) -> Result<LabelMapping, ApiError> {
    let (Some(owner), Some(db)) = (owner, &state.db) else {
        return Ok(LabelMapping::default());
    };
    let column: Option<Option<String>> = clients::Entity::find_by_id(owner.as_str())
        .select_only()
        .column(clients::Column::LabelMapping)
        .into_tuple()
        .one(db)
        .await?;
    Ok(LabelMapping::stored(
        owner.as_str(),
        column.flatten().as_deref(),
    ))
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
    let mapping = label_mapping(&state, owner.as_ref()).await?;
    let alerts = prometheus::parse(items, &mapping, Utc::now())?;
    Ok(Json(
        publish_from("prometheus", &state, owner, alerts).await?,
    ))
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
    let mapping = label_mapping(&state, owner.as_ref()).await?;
    let alerts = alertmanager::parse(
        decode_json_value(&body)?,
        default_source,
        &mapping,
        Utc::now(),
    )?;
    Ok(Json(
        publish_from(default_source, &state, owner, alerts).await?,
    ))
}

/// PagerDuty's Events API v2: tools and client libraries that send PagerDuty events
/// point their events URL here. `routing_key` is a client's own ingest key; `trigger` fires,
/// `resolve` resolves and `acknowledge` acknowledges the key's notification (one
/// already stored: an acknowledge that overtakes its trigger finds nothing). Answers
/// in PagerDuty's shape.
#[utoipa::path(post, path = "/v2/enqueue", tag = "integrations",
    request_body(content = Event, description = "A PagerDuty Events API v2 event"),
    responses(
        (status = 202, body = EventAnswer, description = "Processed: `dedup_key` names the alert's problem (made for a trigger without one)"),
        (status = 400, body = EventAnswer, description = "Invalid event, or a routing key that is not an ingest key: `errors` says why"),
        (status = 413, body = EventAnswer, description = "A body over the size limit"),
        (status = 415, body = EventAnswer, description = "A body that is not JSON"),
        (status = 429, body = EventAnswer, description = "Over INGEST_RATE_LIMIT requests per second for this key; see Retry-After"),
        (status = 503, body = EventAnswer, description = "The bus did not acknowledge, the pipeline is more than INGEST_MAX_BACKLOG messages behind (with Retry-After), or no database to acknowledge in: retry")
    ))]
pub async fn pagerduty_event(
    State(state): State<AlertProducerState>,
    request: Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match enqueue(&state, request).await {
        Ok(answer) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
        Err(Refused {
            status,
            answer,
            retry_after_s,
        }) => {
            let mut response = (status, Json(answer)).into_response();
            if let Some(seconds) = retry_after_s {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds),
                );
            }
            response
        }
    }
}

/// An answer other than success, with the wait to ask for when it is worth a retry.
struct Refused {
    status: StatusCode,
    answer: EventAnswer,
    retry_after_s: Option<u64>,
}

fn invalid(errors: Vec<String>) -> Refused {
    Refused {
        status: StatusCode::BAD_REQUEST,
        answer: EventAnswer {
            status: "invalid event".to_owned(),
            message: "Event object is invalid".to_owned(),
            dedup_key: None,
            errors,
        },
        retry_after_s: None,
    }
}

/// Our error in PagerDuty's shape, its status kept (PagerDuty's clients retry 429
/// and 5xx, and drop the rest).
fn refused(err: ApiError) -> Refused {
    let status = err.status();
    let word = match status {
        StatusCode::TOO_MANY_REQUESTS => "throttle event",
        status if status.is_server_error() => "unavailable",
        _ => "invalid event",
    };
    Refused {
        status,
        retry_after_s: err.retry_after_s(),
        answer: EventAnswer {
            status: word.to_owned(),
            message: err.to_string(),
            dedup_key: None,
            errors: Vec::new(),
        },
    }
}

async fn enqueue(state: &AlertProducerState, request: Request) -> Result<EventAnswer, Refused> {
    let body = crate::http::extract::json_body(request, state)
        .await
        .map_err(refused)?;
    let value = decode_json_value(&body).map_err(refused)?;
    let event: Event = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        // A routing key of the wrong type is still a secret: never echoed.
        let message = if path == "routing_key" {
            "must be a string".to_owned()
        } else {
            err.into_inner().to_string()
        };
        invalid(vec![format!("'{path}' {message}")])
    })?;
    let principal = state
        .auth
        .authenticate(&event.routing_key)
        .await
        .map_err(|err| match err {
            ApiError::Unauthorized(_) => invalid(vec![
                "'routing_key' is not an ingest key of this platform".to_owned(),
            ]),
            other => refused(other),
        })?;
    principal.require(Scope::Ingest).map_err(|_| {
        invalid(vec![
            "'routing_key' is a key without the ingest scope".to_owned(),
        ])
    })?;
    // A routing key sits in tools' configuration, and acknowledges and resolves by a
    // key that only its own client's notifications hold: a client's own key, never the
    // admin token or a shared key (whose alerts are every client's).
    let Some(owner) = principal.alert_owner().map_err(refused)? else {
        return Err(invalid(vec![
            "'routing_key' must be a client's own ingest key (not the admin token, not a shared key)"
                .to_owned(),
        ]));
    };
    state
        .limiter
        .check(&principal.identity())
        .map_err(refused)?;
    let now = Utc::now();
    let (action, dedup_key) = pagerduty::parse(event, now).map_err(invalid)?;
    match action {
        Action::Publish(alert) => {
            publish_from("pagerduty", state, Some(owner), vec![alert])
                .await
                .map_err(refused)?;
        }
        Action::Acknowledge { dedup_key } => {
            let Some(db) = &state.db else {
                return Err(refused(ApiError::Unavailable(
                    "this alert-producer has no database (DATABASE_URL) to acknowledge in"
                        .to_owned(),
                )));
            };
            let who = who(db, &principal).await.map_err(refused)?;
            acknowledge_key(
                db,
                owner.as_str(),
                &dedup_key,
                &format!("{who} (PagerDuty event)"),
                now,
            )
            .await
            .map_err(|err| refused(err.into()))?;
        }
    }
    Ok(EventAnswer {
        status: "success".to_owned(),
        message: "Event processed".to_owned(),
        dedup_key: Some(dedup_key),
        errors: Vec::new(),
    })
}
