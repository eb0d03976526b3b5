//! HTTP: the error type every route answers with, the extractors that parse requests
//! into domain types, and the routers.

pub mod alert_producer;
pub mod error;
pub mod extract;
pub mod pagination;
pub mod rule_service;

pub use error::ApiError;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
};
use tower_http::trace::TraceLayer;

/// What every service's router shares: JSON answers for unknown routes and methods,
/// the body limit, request tracing.
pub(crate) fn finish<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .fallback(|request: Request| async move {
            ApiError::RouteNotFound(format!("{} {}", request.method(), request.uri().path()))
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(error::MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
}
