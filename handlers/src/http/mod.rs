//! HTTP: the error type every route answers with, the extractors that parse requests
//! into domain types, the answers every route documents, and the routers.

pub mod alert_producer;
pub mod answers;
pub mod auth;
pub mod error;
pub mod extract;
pub mod pagination;
pub mod rate_limit;
pub mod rule_service;

pub use error::ApiError;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::header,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::trace::TraceLayer;

use crate::metrics::metrics;

/// What every service's router shares: `/metrics`, JSON answers for unknown routes and
/// methods, the body limit, request tracing, answers counted by status class.
pub(crate) fn finish<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route("/metrics", get(prometheus))
        .fallback(|request: Request| async move {
            ApiError::RouteNotFound(format!("{} {}", request.method(), request.uri().path()))
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(error::MAX_BODY_BYTES))
        .layer(middleware::from_fn(time_limit))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(middleware::from_fn(count_response))
}

/// The request log's span: tower-http's, with a key in the query left out.
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %crate::redact::request_uri(request.uri()),
        version = ?request.version(),
    )
}

/// The longest a request may take, its body included: a client that sends slowly or
/// stops halfway holds a connection this long at most. Above the bus's own publish
/// timeout, so an ingestion the bus is slow to acknowledge still gets its 503.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// What a service without an HTTP API of its own serves (a consumer, on METRICS_ADDR):
/// liveness and its metrics.
pub fn metrics_router() -> Router {
    finish(Router::new().route("/health", get(alert_producer::health)))
}

/// The router and its OpenAPI document, completed with what every route shares: the
/// bearer scheme and the answers of authentication and of the extractors.
pub(crate) fn split<S: Clone + Send + Sync + 'static>(
    router: utoipa_axum::router::OpenApiRouter<S>,
) -> (Router<S>, utoipa::openapi::OpenApi) {
    let (router, mut api) = router.split_for_parts();
    auth::document(&mut api);
    answers::document(&mut api);
    (router, api)
}

/// A route serving an OpenAPI document, serialised once. Middleware clones a route's
/// service for each request it passes on: a handler holding the document itself made
/// that a deep copy of every schema, many times a second under load (10 MB more of the
/// rule-service's heap while 100,000 rules were created).
pub(crate) fn openapi_route(api: &utoipa::openapi::OpenApi) -> axum::routing::MethodRouter<()> {
    let body = axum::body::Bytes::from(serde_json::to_vec(api).unwrap_or_default());
    get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    })
}

/// The process's metrics in the Prometheus text format.
pub async fn prometheus() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics().read().to_prometheus(),
    )
}

async fn count_response(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    metrics().http_response(response.status().as_u16());
    response
}
