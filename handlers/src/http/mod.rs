//! HTTP: the error type every route answers with, the extractors that parse requests
//! into domain types, and the routers.

pub mod error;
pub mod extract;
pub mod pagination;
pub mod rule_service;

pub use error::ApiError;
