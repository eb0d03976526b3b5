//! Domain types. Each one is parsed and validated once, where data enters the system;
//! past that point a value of the type is valid by construction.

mod alert;
mod client;
mod endpoint;
mod label_mapping;
mod notification;
mod rule;
pub mod silence;
mod span;
pub(crate) mod text;

pub use alert::{
    Alert, AlertFieldError, AlertParts, AlertStatus, MAX_BATCH, MAX_CONTEXT_BYTES,
    MAX_CONTEXT_KEYS, MAX_DEDUP_KEY_CHARS, MAX_FIELD_CHARS,
};
pub use client::{ClientId, ClientName};
pub use endpoint::{EndpointKind, EndpointSecret, EndpointTarget};
pub use label_mapping::LabelMapping;
pub use notification::{DeliveryPhase, DeliveryStatus, NotificationStatus};
pub use rule::{FieldPattern, RuleAction, Severity, SeverityPattern, WILDCARD};
pub use span::{Interval, format_span};

/// Why a value was refused. The caller knows which field it came from and says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// `FromStr` and `Display` for a closed set of values from its `ALL` and `as_str`:
/// the one name the API, the events and the database use, parsed in any case (`high`,
/// `High` and `HIGH` are the same severity).
macro_rules! by_name {
    ($($type:ty),+) => {$(
        impl std::str::FromStr for $type {
            type Err = InvalidValue;

            fn from_str(value: &str) -> Result<Self, InvalidValue> {
                Self::ALL
                    .into_iter()
                    .find(|one| one.as_str().eq_ignore_ascii_case(value))
                    .ok_or_else(|| {
                        let names = Self::ALL.map(Self::as_str).join(", ");
                        InvalidValue(format!("must be one of {names} (got {value:?})"))
                    })
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

by_name!(Severity, NotificationStatus, EndpointKind);

impl InvalidValue {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
