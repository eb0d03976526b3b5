//! The one error type of the HTTP API. It knows its status code and renders the
//! contract's body: `{"error": {"code": "...", "message": "..."}}`, plus `field` for
//! a validation error and `current_version` for a stale write.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::InvalidValue;

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The Retry-After of a request refused because the pipeline is behind: soon enough to
/// find the room the pipeline makes in a second (thousands of messages), late enough
/// that clients do not spin on it.
const BACKLOGGED_RETRY_AFTER_S: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{resource} {id:?} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("{0}")]
    Duplicate(String),
    #[error(
        "{resource} {id} is at version {current}, not {given}: read it again and retry with version {current}"
    )]
    StaleVersion {
        resource: &'static str,
        id: String,
        current: i32,
        given: i32,
    },
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("content type must be application/json (got {0:?})")]
    UnsupportedMediaType(String),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{invalid} of {total} alerts are invalid; none was accepted")]
    InvalidBatch {
        invalid: usize,
        total: usize,
        items: Vec<ItemError>,
    },
    #[error("the message bus is unavailable: {0}")]
    BusUnavailable(String),
    #[error("{0}")]
    NotRetryable(String),
    #[error("the request took longer than {} s", super::REQUEST_TIMEOUT.as_secs())]
    Timeout,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// A request whose sender could not be verified (a signature that does not match).
    #[error("{0}")]
    Unverified(String),
    /// Something this request needs is out of reach for now: worth a retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "too many requests for this key: at most {limit} per second ({setting}); retry in {retry_after_s} s"
    )]
    RateLimited {
        /// The setting that sets the rate.
        setting: &'static str,
        limit: u32,
        retry_after_s: u64,
    },
    /// The pipeline is too far behind to take more for now: worth a retry, later.
    #[error("{0}; nothing was accepted: retry in {BACKLOGGED_RETRY_AFTER_S} s")]
    Backlogged(#[from] crate::backpressure::Backlogged),
    #[error("{what}: at most {max} ({setting}); nothing was written")]
    QuotaExceeded {
        /// The setting that sets the quota.
        setting: &'static str,
        max: u32,
        what: String,
    },
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] DbErr),
    #[error("internal error")]
    Database(#[source] DbErr),
}

impl ApiError {
    /// A field that failed validation.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } | Self::InvalidBatch { .. } | Self::QuotaExceeded { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::BusUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound { .. } | Self::RouteNotFound(_) => StatusCode::NOT_FOUND,
            Self::Duplicate(_) | Self::StaleVersion { .. } | Self::NotRetryable(_) => {
                StatusCode::CONFLICT
            }
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Unverified(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Backlogged(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long to wait before sending the same request again, when it is worth it.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            Self::Backlogged(_) => Some(BACKLOGGED_RETRY_AFTER_S),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::Invalid { .. } | Self::InvalidBatch { .. } => "validation_failed",
            Self::BusUnavailable(_) => "unavailable",
            Self::NotFound { .. } | Self::RouteNotFound(_) => "not_found",
            Self::Duplicate(_) => "duplicate",
            Self::NotRetryable(_) => "not_retryable",
            Self::StaleVersion { .. } => "version_conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) | Self::Unverified(_) => "forbidden",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::Backlogged(_) => "backlogged",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::DatabaseUnavailable(_) => "unavailable",
            Self::Database(_) => "internal",
        }
    }
}

/// Tags a domain validation failure with the field it came from.
pub trait FieldContext<T> {
    fn field(self, field: &str) -> Result<T, ApiError>;
}

impl<T> FieldContext<T> for Result<T, InvalidValue> {
    fn field(self, field: &str) -> Result<T, ApiError> {
        self.map_err(|InvalidValue(message)| ApiError::invalid(field, message))
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::DatabaseUnavailable(err),
            other => Self::Database(other),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `validation_failed`, `not_found`,
    /// `duplicate`, `version_conflict`, `not_retryable`, `payload_too_large`, `unsupported_media_type`,
    /// `method_not_allowed`, `unauthorized`, `forbidden`, `rate_limited`,
    /// `quota_exceeded`, `backlogged`, `unavailable`, `internal`.
    pub code: String,
    /// For people; names the field when one is at fault.
    pub message: String,
    /// The field that failed validation (`validation_failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The setting whose limit was reached (`rate_limited`, `quota_exceeded`,
    /// `backlogged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The version to retry with (`version_conflict` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i32>,
    /// For a batch: every invalid item, by index (`validation_failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemError>>,
}

/// One invalid item of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemError {
    /// The item's position in the array (0 for a single object).
    pub index: usize,
    pub field: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Database(err) | Self::DatabaseUnavailable(err) => {
                tracing::error!(error = %err, status = status.as_u16(), "request failed");
            }
            Self::BusUnavailable(err) => {
                tracing::error!(error = %err, status = status.as_u16(), "request failed");
            }
            Self::Unavailable(err) => {
                tracing::warn!(error = %err, status = status.as_u16(), "request failed");
            }
            _ => {}
        }
        let code = self.code().to_owned();
        let message = self.to_string();
        let challenge = matches!(self, Self::Unauthorized(_));
        let retry_after = self.retry_after_s();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field: match &self {
                    Self::Invalid { field, .. } => Some(field.clone()),
                    _ => None,
                },
                limit: match &self {
                    Self::RateLimited { setting, .. } | Self::QuotaExceeded { setting, .. } => {
                        Some((*setting).to_owned())
                    }
                    Self::Backlogged(_) => Some("INGEST_MAX_BACKLOG".to_owned()),
                    _ => None,
                },
                current_version: match &self {
                    Self::StaleVersion { current, .. } => Some(*current),
                    _ => None,
                },
                items: match self {
                    Self::InvalidBatch { items, .. } => Some(items),
                    _ => None,
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        if challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"alerting\""),
            );
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backpressure::Backlogged;

    #[tokio::test]
    async fn a_pipeline_behind_is_a_503_with_retry_after_naming_the_setting() {
        let refused = ApiError::from(Backlogged {
            behind: 250,
            max: 100,
        });
        let response = refused.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["code"], "backlogged");
        assert_eq!(body["error"]["limit"], "INGEST_MAX_BACKLOG");
    }
}
