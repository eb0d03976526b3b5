//! alert-producer: alert ingestion (`POST /api/v1/alerts`) and load-generation jobs.
//! It answers 202 only once the bus has acknowledged every alert.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, atomic::Ordering},
    time::Instant,
};

use axum::{
    Json, Router,
    extract::{FromRef, FromRequest, Path, Request, State},
    http::StatusCode,
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    ApiError,
    auth::{Authenticator, Principal, Scope},
    error::{ErrorBody, ItemError},
    extract::{ApiJson, decode_json_value, field_error, json_body},
    rate_limit::RateLimiter,
};
use crate::{
    domain::{Alert, AlertParts},
    events::AlertEvent,
    jobs::generate::{self, GenerateSpec, Progress},
    ports::Bus,
};

/// The most alerts one request may carry.
pub const MAX_BATCH: usize = 1_000;

#[derive(Clone)]
pub struct AlertProducerState {
    pub bus: Arc<dyn Bus>,
    jobs: Arc<Mutex<HashMap<Uuid, Arc<Job>>>>,
    auth: Authenticator,
    limiter: Arc<RateLimiter>,
}

impl FromRef<AlertProducerState> for Authenticator {
    fn from_ref(state: &AlertProducerState) -> Self {
        state.auth.clone()
    }
}

/// How an alert-producer is set up, besides its bus.
#[derive(Clone)]
pub struct AlertProducerSettings {
    /// The admin token (ADMIN_TOKEN).
    pub admin_token: String,
    /// Where client keys are checked; without it, only the admin token is taken.
    pub keys: Option<sea_orm::DatabaseConnection>,
    /// Ingestion requests per second per key (INGEST_RATE_LIMIT); 0 for no limit.
    pub ingest_rate_limit: u32,
}

impl AlertProducerState {
    pub fn new(bus: Arc<dyn Bus>, settings: AlertProducerSettings) -> Self {
        Self {
            bus,
            jobs: Arc::default(),
            auth: Authenticator::new(&settings.admin_token, settings.keys),
            limiter: Arc::new(RateLimiter::new(
                "INGEST_RATE_LIMIT",
                settings.ingest_rate_limit,
            )),
        }
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "alerting alert-producer",
    description = "Alert ingestion and load generation."
))]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AlertProducerState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ingest))
        .routes(routes!(start_job))
        .routes(routes!(job_status, cancel_job))
        .routes(routes!(health))
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = api_router().split_for_parts().1;
    super::auth::document(&mut api);
    api
}

pub fn router(bus: Arc<dyn Bus>, settings: AlertProducerSettings) -> Router {
    let (router, mut api) = api_router().split_for_parts();
    super::auth::document(&mut api);
    let router = router
        .route_service("/api/v1/openapi.json", super::openapi_route(&api))
        .route("/ready", get(health));
    super::finish(router).with_state(AlertProducerState::new(bus, settings))
}

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
        (status = 400, body = ErrorBody, description = "Malformed JSON"),
        (status = 413, body = ErrorBody, description = "Body over 1 MiB"),
        (status = 422, body = ErrorBody, description = "Some alert is invalid; `items` lists each failure by index"),
        (status = 429, body = ErrorBody, description = "Over INGEST_RATE_LIMIT requests per second for this key; see Retry-After"),
        (status = 503, body = ErrorBody, description = "The bus did not acknowledge")
    ))]
pub async fn ingest(
    State(state): State<AlertProducerState>,
    principal: Principal,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(Scope::Ingest)?;
    let owner = principal.alert_owner()?;
    state.limiter.check(&principal.identity())?;
    let body = json_body(request, &state).await?;
    let alerts: Vec<Alert> = parse_alerts(&body, Utc::now())?
        .into_iter()
        .map(|alert| alert.owned_by(owner.clone()))
        .collect();
    let shared = owner.is_none();
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
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: alerts.len(),
            alert_ids: alerts.into_iter().map(|alert| alert.alert_id).collect(),
            shared,
        }),
    ))
}

struct Job {
    id: Uuid,
    seed: u64,
    target: u64,
    started: Instant,
    started_at: DateTime<Utc>,
    progress: Arc<Progress>,
    finished: Mutex<Option<(DateTime<Utc>, f64)>>,
}

/// A load-generation job's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    pub job_id: Uuid,
    /// running, completed or cancelled.
    pub status: &'static str,
    /// Alerts the bus acknowledged.
    pub sent: u64,
    /// Alerts that failed to send.
    pub errors: u64,
    /// Alerts the job sends in all.
    pub target: u64,
    /// Achieved alerts per second.
    pub rate: f64,
    /// Replays the same sequence of severity, source and name.
    pub seed: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    fn status(&self) -> JobStatus {
        let sent = self.progress.sent.load(Ordering::Relaxed);
        let errors = self.progress.errors.load(Ordering::Relaxed);
        let finished = *self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = finished
            .map(|(_, secs)| secs)
            .unwrap_or_else(|| self.started.elapsed().as_secs_f64());
        let status = match (finished, self.progress.is_cancelled()) {
            (None, _) => "running",
            (Some(_), true) => "cancelled",
            (Some(_), false) => "completed",
        };
        JobStatus {
            job_id: self.id,
            status,
            sent,
            errors,
            target: self.target,
            rate: if elapsed > 0.0 {
                (sent as f64 / elapsed * 10.0).round() / 10.0
            } else {
                0.0
            },
            seed: self.seed,
            started_at: self.started_at,
            finished_at: finished.map(|(at, _)| at),
        }
    }
}

/// Start a load-generation job (admin token only): `count` alerts as fast as possible,
/// or `rate` per second for `duration` seconds.
#[utoipa::path(post, path = "/api/v1/alerts/generate", tag = "alerts", request_body = GenerateSpec,
    responses(
        (status = 202, body = JobStatus),
        (status = 400, body = ErrorBody, description = "Malformed JSON"),
        (status = 422, body = ErrorBody, description = "A field failed validation")
    ))]
pub async fn start_job(
    State(state): State<AlertProducerState>,
    principal: Principal,
    request: Request,
) -> Result<(StatusCode, Json<JobStatus>), ApiError> {
    // The right comes first: a key that may not start a job learns nothing from how
    // its body would have been judged.
    require_operator(&principal, "starting load generation needs the admin token")?;
    let ApiJson(spec) = ApiJson::<GenerateSpec>::from_request(request, &state).await?;
    let plan = spec.plan().map_err(|errors| {
        let first = &errors[0];
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::invalid(first.field, message)
    })?;
    let job = Arc::new(Job {
        id: Uuid::new_v4(),
        seed: plan.seed,
        target: plan.pace.total(),
        started: Instant::now(),
        started_at: Utc::now(),
        progress: Arc::default(),
        finished: Mutex::new(None),
    });
    {
        let mut jobs = state.jobs.lock().unwrap_or_else(|e| e.into_inner());
        forget_old_jobs(&mut jobs, FINISHED_JOBS_KEPT);
        jobs.insert(job.id, job.clone());
    }
    let bus = state.bus.clone();
    let running = job.clone();
    tokio::spawn(async move {
        tracing::info!(job_id = %running.id, target = running.target, seed = running.seed, "load generation started");
        generate::run(plan, running.progress.clone(), |alerts| {
            let bus = bus.clone();
            async move {
                bus.publish(alerts.iter().map(AlertEvent::message).collect())
                    .await
            }
        })
        .await;
        *running.finished.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Utc::now(), running.started.elapsed().as_secs_f64()));
        let status = running.status();
        tracing::info!(job_id = %running.id, status = status.status, sent = status.sent, errors = status.errors, rate = status.rate, "load generation finished");
    });
    Ok((StatusCode::ACCEPTED, Json(job.status())))
}

/// Finished jobs whose progress can still be read; older ones are forgotten, so that a
/// long-running alert-producer does not keep every job it ever ran.
const FINISHED_JOBS_KEPT: usize = 100;

/// Keeps every running job and the `keep` most recently finished.
fn forget_old_jobs(jobs: &mut HashMap<Uuid, Arc<Job>>, keep: usize) {
    let mut finished: Vec<(DateTime<Utc>, Uuid)> = jobs
        .values()
        .filter_map(|job| {
            let finished = *job.finished.lock().unwrap_or_else(|e| e.into_inner());
            finished.map(|(at, _)| (at, job.id))
        })
        .collect();
    if finished.len() <= keep {
        return;
    }
    finished.sort_unstable();
    for (_, id) in &finished[..finished.len() - keep] {
        jobs.remove(id);
    }
}

/// Load generation is an operator's tool: a job can send millions of alerts, beyond
/// any key's rate. `why` says so in the 403.
fn require_operator(principal: &Principal, why: &'static str) -> Result<(), ApiError> {
    match principal {
        Principal::Admin => Ok(()),
        Principal::Client { .. } => Err(ApiError::Forbidden(why)),
    }
}

fn find_job(state: &AlertProducerState, job_id: &str) -> Result<Arc<Job>, ApiError> {
    let id = Uuid::parse_str(job_id).map_err(|_| ApiError::not_found("job", job_id))?;
    state
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("job", job_id))
}

/// A job's progress.
#[utoipa::path(get, path = "/api/v1/alerts/generate/{job_id}", tag = "alerts",
    params(("job_id" = Uuid, Path)),
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn job_status(
    State(state): State<AlertProducerState>,
    principal: Principal,
    Path(job_id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    require_operator(
        &principal,
        "load generation jobs are read with the admin token",
    )?;
    Ok(Json(find_job(&state, &job_id)?.status()))
}

/// Cancel a job; what was sent stays sent.
#[utoipa::path(delete, path = "/api/v1/alerts/generate/{job_id}", tag = "alerts",
    params(("job_id" = Uuid, Path)),
    responses((status = 200, body = JobStatus), (status = 404, body = ErrorBody)))]
pub async fn cancel_job(
    State(state): State<AlertProducerState>,
    principal: Principal,
    Path(job_id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    require_operator(
        &principal,
        "cancelling load generation needs the admin token",
    )?;
    let job = find_job(&state, &job_id)?;
    job.progress.cancel();
    Ok(Json(job.status()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(finished_seconds_ago: Option<i64>) -> Arc<Job> {
        Arc::new(Job {
            id: Uuid::new_v4(),
            seed: 1,
            target: 10,
            started: Instant::now(),
            started_at: Utc::now(),
            progress: Arc::default(),
            finished: Mutex::new(
                finished_seconds_ago.map(|ago| (Utc::now() - chrono::TimeDelta::seconds(ago), 1.0)),
            ),
        })
    }

    #[test]
    fn running_jobs_and_the_newest_finished_ones_are_kept() {
        let running = job(None);
        let newest = job(Some(1));
        let middle = job(Some(60));
        let oldest = job(Some(3_600));
        let mut jobs: HashMap<Uuid, Arc<Job>> = [&running, &oldest, &newest, &middle]
            .into_iter()
            .map(|job| (job.id, job.clone()))
            .collect();

        forget_old_jobs(&mut jobs, 3);
        assert_eq!(jobs.len(), 4, "nothing to forget yet");

        forget_old_jobs(&mut jobs, 2);
        assert!(jobs.contains_key(&running.id));
        assert!(jobs.contains_key(&newest.id));
        assert!(jobs.contains_key(&middle.id));
        assert!(!jobs.contains_key(&oldest.id));

        forget_old_jobs(&mut jobs, 0);
        assert_eq!(jobs.keys().collect::<Vec<_>>(), vec![&running.id]);
    }
}
