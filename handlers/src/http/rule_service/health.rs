//! The rule-service's health checks: liveness (`/health`, the process answers) and
//! readiness (`/ready`, it can reach its database), for the load balancer and ECS.

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`
    pub status: &'static str,
    /// Each dependency: `ok` or why it is not.
    pub checks: ReadinessChecks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health, description = "The service is up")))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the process can reach what it needs.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, body = Readiness, description = "Every dependency answers"),
        (status = 503, body = Readiness, description = "A dependency does not answer")
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                checks: ReadinessChecks {
                    database: "ok".to_owned(),
                },
            }),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed: database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "not_ready",
                    checks: ReadinessChecks {
                        database: err.to_string(),
                    },
                }),
            )
        }
    }
}
