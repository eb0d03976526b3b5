//! rule-service: clients, their rules and endpoints, notifications, and the web console
//! (`console`) that shows them.
//! Every rule write records an outbox row in the same transaction, so the change
//! reaches `rule.changed` even if the bus is down when it is made.

mod clients;
mod console;
mod endpoint_test;
mod endpoints;
mod explain;
mod health;
mod keys;
mod notification_actions;
mod notifications;
mod overview;
mod owned;
mod quotas;
mod rules;
mod silences;

pub use quotas::Quotas;

use axum::{Router, extract::FromRef};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{DatabaseConnection, DbErr, SqlErr};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, auth::Authenticator};
use crate::{
    domain::{EndpointKind, EndpointTarget},
    safe_targets,
};

/// What every rule-service handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// To re-announce notifications (`POST /notifications/{id}/retry`); without one,
    /// that route answers 503.
    pub bus: Option<std::sync::Arc<dyn crate::ports::Bus>>,
    pub auth: Authenticator,
    pub targets: TargetPolicy,
    pub quotas: Quotas,
    /// To send test deliveries; without one, that route answers 503.
    pub channel: Option<std::sync::Arc<dyn crate::ports::Channel>>,
    /// The process's counters over the last hour, for the overview.
    pub history: Option<std::sync::Arc<crate::history::History>>,
    /// Whether the process runs the whole pipeline (embedded mode).
    pub whole_platform: bool,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Which webhook and Slack addresses an endpoint may have (see `safe_targets`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetPolicy {
    /// ALLOW_PRIVATE_ENDPOINTS: loopback and private addresses too (tests, a laptop).
    pub allow_private: bool,
}

impl TargetPolicy {
    pub(crate) async fn check(&self, target: &EndpointTarget) -> Result<(), ApiError> {
        if self.allow_private || target.kind() == EndpointKind::Email {
            return Ok(());
        }
        safe_targets::check_url(target.value())
            .await
            .map_err(|refused| ApiError::invalid("value", refused.to_string()))
    }
}

/// How a rule-service is set up, besides its database.
#[derive(Clone)]
pub struct RuleServiceSettings {
    /// The admin token (ADMIN_TOKEN); client keys are checked in the database.
    pub admin_token: String,
    pub targets: TargetPolicy,
    /// To re-announce notifications; without one, retry answers 503.
    pub bus: Option<std::sync::Arc<dyn crate::ports::Bus>>,
    pub quotas: Quotas,
    /// Writes per second per client key (WRITE_RATE_LIMIT); 0 for no limit. The admin
    /// token is not limited.
    pub write_rate_limit: u32,
    /// The delivery channels, for test deliveries; without them, that route answers
    /// 503.
    pub channel: Option<std::sync::Arc<dyn crate::ports::Channel>>,
    /// The process's counters over the last hour (read once a minute by whoever made
    /// it), shown by the overview; without it, the overview has the database's only.
    pub history: Option<std::sync::Arc<crate::history::History>>,
    /// Whether this process runs the whole pipeline (embedded mode), so that its
    /// counters are the platform's.
    pub whole_platform: bool,
}

impl RuleServiceSettings {
    /// No bus, private endpoints allowed: for tests and tools.
    pub fn local(admin_token: &str) -> Self {
        Self {
            admin_token: admin_token.to_owned(),
            targets: TargetPolicy {
                allow_private: true,
            },
            bus: None,
            quotas: Quotas::default(),
            write_rate_limit: 0,
            channel: None,
            history: None,
            whole_platform: false,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "alerting rule-service",
        description = "Clients, rules and endpoints of the alerting platform, and the notifications made for them."
    ),
    tags(
        (name = "clients", description = "Tenants"),
        (name = "rules", description = "What a client wants to hear about"),
        (name = "endpoints", description = "Where a rule's notifications go"),
        (name = "notifications", description = "What was sent, and how it went"),
        (name = "silences", description = "Silences and maintenance windows: alerts recorded, not delivered"),
        (name = "keys", description = "A client's API keys (admin token only)"),
        (name = "operations", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(clients::create_client, clients::list_clients))
        .routes(routes!(
            clients::get_client,
            clients::update_client,
            clients::delete_client
        ))
        .routes(routes!(rules::create_rule, rules::list_rules))
        .routes(routes!(
            rules::get_rule,
            rules::replace_rule,
            rules::update_rule,
            rules::delete_rule
        ))
        .routes(routes!(
            endpoints::create_endpoint,
            endpoints::list_endpoints
        ))
        .routes(routes!(
            endpoints::get_endpoint,
            endpoints::update_endpoint,
            endpoints::delete_endpoint
        ))
        .routes(routes!(endpoint_test::test_endpoint))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::get_notification))
        .routes(routes!(overview::overview))
        .routes(routes!(notification_actions::retry_notification))
        .routes(routes!(notification_actions::acknowledge_notification))
        .routes(routes!(notification_actions::resolve_notification))
        .routes(routes!(explain::explain))
        .routes(routes!(silences::create_silence, silences::list_silences))
        .routes(routes!(silences::get_silence))
        .routes(routes!(silences::expire_silence))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
}

/// The OpenAPI document, generated from the handlers' own annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    super::split(api_router()).1
}

/// The rule-service as an axum `Router`: a `tower::Service` that `axum::serve` hosts
/// in a container and `lambda_http::run` hosts in Lambda, unchanged. Its API keys are
/// checked in `db`.
pub fn router(db: DatabaseConnection, settings: RuleServiceSettings) -> Router {
    let (router, api) = super::split(api_router());
    // The API's description stays open, like health and metrics: it holds no data.
    let router = router
        .route_service("/api/v1/openapi.json", super::openapi_route(&api))
        .merge(console::routes());
    let auth = Authenticator::new(&settings.admin_token, Some(db.clone()))
        .with_write_limit(settings.write_rate_limit);
    super::finish(router).with_state(AppState {
        db,
        bus: settings.bus,
        auth,
        targets: settings.targets,
        quotas: settings.quotas,
        channel: settings.channel,
        history: settings.history,
        whole_platform: settings.whole_platform,
    })
}

/// Now, at the precision both databases keep (microseconds), so that what a write
/// returns is exactly what a later read returns.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub(crate) fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

/// Ids in paths that cannot be ids are simply not found: `/rules/xyz` is a 404 like
/// any other unknown rule.
pub(crate) fn parse_uuid(resource: &'static str, id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(resource, id))
}
