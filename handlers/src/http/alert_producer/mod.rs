//! alert-producer: alert ingestion (`POST /api/v1/alerts`) and load-generation jobs.
//! It answers 202 only once the bus has acknowledged every alert.
//!
//! Layout: `ingest` takes alerts; `integrations` takes other tools' payloads
//! (Prometheus's, Alertmanager's, Grafana's, PagerDuty's events); `sns` takes Amazon
//! SNS's messages (CloudWatch alarms); `load_generation` starts and follows jobs (run by
//! `jobs::load_jobs`); this module holds the state, the router and the health check.

use std::sync::Arc;

use axum::{Json, Router, extract::FromRef, routing::get};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{auth::Authenticator, rate_limit::RateLimiter};
use crate::{
    backpressure::BackPressure, integrations::sns::Sns, jobs::load_jobs::LoadJobs, ports::Bus,
};

mod ingest;
mod integrations;
mod load_generation;
mod sns;

pub use crate::domain::MAX_BATCH;
pub use ingest::{Accepted, AlertInput, ingest, parse_alerts};

#[derive(Clone)]
pub struct AlertProducerState {
    pub bus: Arc<dyn Bus>,
    jobs: Arc<LoadJobs>,
    auth: Authenticator,
    limiter: Arc<RateLimiter>,
    /// Where client keys are checked, and PagerDuty's acknowledgements applied.
    db: Option<sea_orm::DatabaseConnection>,
    sns: Option<Arc<Sns>>,
    backpressure: Option<BackPressure>,
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
    /// What verifies and confirms SNS messages (the SNS_* settings); without it, the
    /// SNS route answers 503.
    pub sns: Option<Arc<Sns>>,
    /// Holds ingestion back while the pipeline is too far behind (INGEST_MAX_BACKLOG);
    /// without it, ingestion takes what the bus takes.
    pub backpressure: Option<BackPressure>,
}

impl AlertProducerState {
    pub fn new(bus: Arc<dyn Bus>, settings: AlertProducerSettings) -> Self {
        Self {
            bus,
            jobs: Arc::default(),
            db: settings.keys.clone(),
            sns: settings.sns,
            backpressure: settings.backpressure,
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
        .routes(routes!(ingest::ingest))
        .routes(routes!(integrations::prometheus_alerts))
        .routes(routes!(integrations::alertmanager_webhook))
        .routes(routes!(integrations::grafana_webhook))
        .routes(routes!(integrations::pagerduty_event))
        .routes(routes!(sns::sns_message))
        .routes(routes!(load_generation::start_job))
        .routes(routes!(
            load_generation::job_status,
            load_generation::cancel_job
        ))
        .routes(routes!(health))
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    super::split(api_router()).1
}

pub fn router(bus: Arc<dyn Bus>, settings: AlertProducerSettings) -> Router {
    let (router, api) = super::split(api_router());
    let router = router
        .route_service("/api/v1/openapi.json", super::openapi_route(&api))
        .route("/ready", get(health));
    super::finish(router).with_state(AlertProducerState::new(bus, settings))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health, description = "The service is up")))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}
