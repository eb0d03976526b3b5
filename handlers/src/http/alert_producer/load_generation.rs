//! Load generation over HTTP (admin token only): start a job, read its progress,
//! cancel it. The jobs themselves run in `jobs::load_jobs`.

use axum::{
    Json,
    extract::{FromRequest, Path, Request, State},
    http::StatusCode,
};
use uuid::Uuid;

use super::AlertProducerState;
use crate::{
    http::{ApiError, auth::Principal, extract::ApiJson},
    jobs::{
        generate::GenerateSpec,
        load_jobs::{JobStatus, LoadJobs},
    },
};

/// Start a load-generation job (admin token only): `count` alerts as fast as possible,
/// or `rate` per second for `duration` seconds.
#[utoipa::path(post, path = "/api/v1/alerts/generate", tag = "alerts", request_body = GenerateSpec,
    responses((status = 202, body = JobStatus, description = "The job started: its id and progress")))]
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
    Ok((
        StatusCode::ACCEPTED,
        Json(
            state
                .jobs
                .start(plan, state.bus.clone(), state.backpressure.clone()),
        ),
    ))
}

/// Load generation is an operator's tool: a job can send millions of alerts, beyond
/// any key's rate. `why` says so in the 403.
fn require_operator(principal: &Principal, why: &'static str) -> Result<(), ApiError> {
    match principal {
        Principal::Admin => Ok(()),
        Principal::Client { .. } => Err(ApiError::Forbidden(why)),
    }
}

/// What `act` makes of the job a path names, for an operator: 404 for an id that is
/// not one or not known.
fn on_job(
    state: &AlertProducerState,
    principal: &Principal,
    why: &'static str,
    job_id: &str,
    act: impl FnOnce(&LoadJobs, Uuid) -> Option<JobStatus>,
) -> Result<Json<JobStatus>, ApiError> {
    require_operator(principal, why)?;
    Uuid::parse_str(job_id)
        .ok()
        .and_then(|id| act(&state.jobs, id))
        .map(Json)
        .ok_or_else(|| ApiError::not_found("job", job_id))
}

/// A job's progress.
#[utoipa::path(get, path = "/api/v1/alerts/generate/{job_id}", tag = "alerts",
    params(("job_id" = Uuid, Path)),
    responses((status = 200, body = JobStatus, description = "The job's progress")))]
pub async fn job_status(
    State(state): State<AlertProducerState>,
    principal: Principal,
    Path(job_id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    let why = "load generation jobs are read with the admin token";
    on_job(&state, &principal, why, &job_id, LoadJobs::status)
}

/// Cancel a job; what was sent stays sent.
#[utoipa::path(delete, path = "/api/v1/alerts/generate/{job_id}", tag = "alerts",
    params(("job_id" = Uuid, Path)),
    responses((status = 200, body = JobStatus, description = "The job, cancelled (or already finished)")))]
pub async fn cancel_job(
    State(state): State<AlertProducerState>,
    principal: Principal,
    Path(job_id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    let why = "cancelling load generation needs the admin token";
    on_job(&state, &principal, why, &job_id, LoadJobs::cancel)
}
