//! Domain types. Each one is parsed and validated once, where data enters the system;
//! past that point a value of the type is valid by construction.

mod alert;
mod client;
mod endpoint;
mod notification;
mod rule;
pub(crate) mod text;

pub use alert::{Alert, AlertFieldError, AlertParts, MAX_CONTEXT_BYTES, MAX_CONTEXT_KEYS};
pub use client::{ClientId, ClientName};
pub use endpoint::{EndpointKind, EndpointSecret, EndpointTarget};
pub use notification::{DeliveryStatus, NotificationStatus};
pub use rule::{FieldPattern, RuleAction, Severity, SeverityPattern, WILDCARD};

/// Why a value was refused. The caller knows which field it came from and says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
