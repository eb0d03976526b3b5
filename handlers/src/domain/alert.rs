//! An alert, parsed once where it enters and valid from then on, with the limits on
//! what it may carry.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{ClientId, InvalidValue, Severity, text::check_text};

/// An alert, valid by construction: parsed once where it enters (the alert-producer's
/// API, or the evaluator decoding `alerts.new`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Who the alert belongs to. `Some(client)`: posted with that client's own ingest
    /// key, matched against that client's rules only, so nothing another client posts
    /// can read it or fold into it. `None`: the shared feed (the admin token, or an
    /// ingest key the admin marked shared), matched against every client's rules.
    pub owner: Option<ClientId>,
    pub alert_id: String,
    pub event_ts: DateTime<Utc>,
    pub severity: Severity,
    pub source: String,
    pub name: String,
    pub context: BTreeMap<String, String>,
    /// "The same problem again": while the owner's notification with this key is open,
    /// further alerts with it fold into that notification instead of making new ones.
    pub dedup_key: Option<String>,
    /// Firing (the problem is happening), or resolved (it is over: the owner's open
    /// notification with the same dedup key closes).
    pub status: AlertStatus,
}

/// Whether an alert says a problem is happening or is over.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    pub fn is_firing(&self) -> bool {
        *self == Self::Firing
    }
}

impl std::str::FromStr for AlertStatus {
    type Err = InvalidValue;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "firing" => Ok(Self::Firing),
            "resolved" => Ok(Self::Resolved),
            _ => Err(InvalidValue(format!(
                "must be firing or resolved (got {value:?})"
            ))),
        }
    }
}

/// Limits on what an alert may carry.
/// The most alerts one request may carry.
pub const MAX_BATCH: usize = 1_000;
pub const MAX_ALERT_ID_CHARS: usize = 255;
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
pub const MAX_FIELD_CHARS: usize = 255;
pub const MAX_CONTEXT_KEYS: usize = 64;
pub const MAX_CONTEXT_BYTES: usize = 16 * 1024;

/// The parts of an alert as they arrive, before validation.
#[derive(Debug, Clone, Default)]
pub struct AlertParts<'a> {
    pub alert_id: Option<&'a str>,
    pub event_ts: Option<&'a str>,
    pub severity: &'a str,
    pub source: &'a str,
    pub name: &'a str,
    pub context: Option<&'a BTreeMap<String, String>>,
    pub dedup_key: Option<&'a str>,
    /// firing (the default) or resolved.
    pub status: Option<&'a str>,
}

/// A field of an alert that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFieldError {
    pub field: &'static str,
    pub message: String,
}

impl Alert {
    /// The same alert, belonging to `owner` (`None`: the shared feed).
    pub fn owned_by(self, owner: Option<ClientId>) -> Self {
        Self { owner, ..self }
    }

    /// Whether the alert came from the shared feed rather than its owner.
    pub fn is_shared(&self) -> bool {
        self.owner.is_none()
    }

    /// Validates every field, collecting every failure (an API client fixes them all at
    /// once). A missing id is generated; a missing timestamp is `now`.
    pub fn parse(parts: AlertParts<'_>, now: DateTime<Utc>) -> Result<Self, Vec<AlertFieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &'static str, err: InvalidValue| {
            errors.push(AlertFieldError {
                field,
                message: err.0,
            })
        };
        let alert_id = match parts.alert_id {
            Some(id) => {
                if let Err(err) = check_text(id, MAX_ALERT_ID_CHARS) {
                    fail("alert_id", err);
                }
                id.to_owned()
            }
            // Time-ordered, like the ids we store: indexes on alert_id grow at one end.
            None => uuid::Uuid::now_v7().to_string(),
        };
        let event_ts = match parts.event_ts {
            Some(ts) => DateTime::parse_from_rfc3339(ts)
                .map(|ts| ts.with_timezone(&Utc))
                .unwrap_or_else(|err| {
                    fail(
                        "event_ts",
                        InvalidValue(format!("must be an RFC 3339 timestamp ({err})")),
                    );
                    now
                }),
            None => now,
        };
        let severity = parts.severity.parse().unwrap_or_else(|err| {
            fail("severity", err);
            Severity::Low
        });
        for (field, value) in [("source", parts.source), ("name", parts.name)] {
            if let Err(err) = check_text(value, MAX_FIELD_CHARS) {
                fail(field, err);
            }
        }
        let context = parts.context.cloned().unwrap_or_default();
        if let Err(err) = check_context(&context) {
            fail("context", err);
        }
        if let Some(Err(err)) = parts
            .dedup_key
            .map(|key| check_text(key, MAX_DEDUP_KEY_CHARS))
        {
            fail("dedup_key", err);
        }
        let status = parts
            .status
            .map(str::parse::<AlertStatus>)
            .transpose()
            .unwrap_or_else(|err| {
                fail("status", err);
                None
            })
            .unwrap_or_default();
        // A resolve names what it resolves: without a key there is nothing to find.
        if status == AlertStatus::Resolved && parts.dedup_key.is_none() {
            fail(
                "dedup_key",
                InvalidValue::new(
                    "a resolved alert needs the dedup_key of the notification it resolves",
                ),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            owner: None,
            alert_id,
            event_ts,
            severity,
            source: parts.source.to_owned(),
            name: parts.name.to_owned(),
            context,
            dedup_key: parts.dedup_key.map(str::to_owned),
            status,
        })
    }
}

fn check_context(context: &BTreeMap<String, String>) -> Result<(), InvalidValue> {
    if context.len() > MAX_CONTEXT_KEYS {
        return Err(InvalidValue(format!(
            "must have at most {MAX_CONTEXT_KEYS} keys (got {})",
            context.len()
        )));
    }
    let bytes: usize = context.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_CONTEXT_BYTES {
        return Err(InvalidValue(format!(
            "must hold at most {MAX_CONTEXT_BYTES} bytes of keys and values (got {bytes})"
        )));
    }
    if context.keys().any(String::is_empty) {
        return Err(InvalidValue::new("keys must not be empty"));
    }
    if context
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(InvalidValue::new("must not contain NUL characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>() -> AlertParts<'a> {
        AlertParts {
            alert_id: Some("a-1"),
            event_ts: Some("2026-11-27T10:00:00+01:00"),
            severity: "high",
            source: "payments",
            name: "card-declined",
            context: None,
            dedup_key: Some("card-declined:eu"),
            status: None,
        }
    }

    #[test]
    fn a_valid_alert_is_normalised() {
        let alert = Alert::parse(parts(), Utc::now()).expect("valid");
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.event_ts.to_rfc3339(), "2026-11-27T09:00:00+00:00");
    }

    #[test]
    fn missing_id_and_time_are_filled_in() {
        let now = Utc::now();
        let alert = Alert::parse(
            AlertParts {
                alert_id: None,
                event_ts: None,
                ..parts()
            },
            now,
        )
        .expect("valid");
        assert!(uuid::Uuid::parse_str(&alert.alert_id).is_ok());
        assert_eq!(alert.event_ts, now);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let big: BTreeMap<String, String> = (0..65).map(|i| (i.to_string(), "v".into())).collect();
        let errors = Alert::parse(
            AlertParts {
                alert_id: Some(""),
                event_ts: Some("yesterday"),
                severity: "loud",
                source: "",
                name: &"n".repeat(256),
                context: Some(&big),
                dedup_key: Some(" padded"),
                status: Some("over"),
            },
            Utc::now(),
        )
        .expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "alert_id",
                "event_ts",
                "severity",
                "source",
                "name",
                "context",
                "dedup_key",
                "status"
            ]
        );
    }

    #[test]
    fn a_dedup_key_is_kept_and_bounded() {
        let alert = Alert::parse(parts(), Utc::now()).expect("valid");
        assert_eq!(alert.dedup_key.as_deref(), Some("card-declined:eu"));
        let long = "k".repeat(MAX_DEDUP_KEY_CHARS + 1);
        for bad in ["", "tab\there", long.as_str()] {
            let errors = Alert::parse(
                AlertParts {
                    dedup_key: Some(bad),
                    ..parts()
                },
                Utc::now(),
            )
            .expect_err("refused");
            assert_eq!(errors[0].field, "dedup_key", "{bad:?}");
        }
    }

    #[test]
    fn context_is_bounded_in_size() {
        let huge: BTreeMap<String, String> =
            [("k".to_owned(), "v".repeat(MAX_CONTEXT_BYTES))].into();
        let errors = Alert::parse(
            AlertParts {
                context: Some(&huge),
                ..parts()
            },
            Utc::now(),
        )
        .expect_err("too big");
        assert_eq!(errors[0].field, "context");
    }

    #[test]
    fn a_resolve_needs_its_dedup_key() {
        let resolved = Alert::parse(
            AlertParts {
                status: Some("RESOLVED"),
                ..parts()
            },
            Utc::now(),
        )
        .expect("valid");
        assert_eq!(resolved.status, AlertStatus::Resolved);
        let errors = Alert::parse(
            AlertParts {
                status: Some("resolved"),
                dedup_key: None,
                ..parts()
            },
            Utc::now(),
        )
        .expect_err("a resolve without a key resolves nothing");
        assert_eq!(errors[0].field, "dedup_key");
        assert_eq!(
            Alert::parse(parts(), Utc::now()).expect("valid").status,
            AlertStatus::Firing
        );
    }
}
