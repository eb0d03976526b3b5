//! Which labels of a Prometheus-style label set (Prometheus, Alertmanager, Grafana)
//! give an alert its severity, source and name, per client: a team whose alerts say
//! `priority` rather than `severity`, or `service` rather than `job`, sets its own,
//! and Prometheus's conventions are the default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidValue;

/// The most labels one field may try.
const MAX_LABELS: usize = 8;
/// Prometheus allows longer names; nobody writes them.
const MAX_LABEL_CHARS: usize = 128;

/// Labels tried in order for each field: the first present and not empty gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelMapping {
    /// The severity's labels (its value read as critical, warning, P1, SEV2…; HIGH
    /// when none is present or its value means nothing). Default `["severity"]`.
    #[serde(default = "severity")]
    pub severity: Vec<String>,
    /// The source's labels; default `["job", "source"]` (then the integration's name).
    #[serde(default = "source")]
    pub source: Vec<String>,
    /// The name's labels, one required; default `["alertname"]`.
    #[serde(default = "name")]
    pub name: Vec<String>,
}

fn severity() -> Vec<String> {
    vec!["severity".to_owned()]
}

fn source() -> Vec<String> {
    vec!["job".to_owned(), "source".to_owned()]
}

fn name() -> Vec<String> {
    vec!["alertname".to_owned()]
}

impl Default for LabelMapping {
    fn default() -> Self {
        Self {
            severity: severity(),
            source: source(),
            name: name(),
        }
    }
}

impl LabelMapping {
    /// Checks every list: 1–8 Prometheus label names each. The error names the field
    /// (`severity`, `source` or `name`) and what was wrong.
    pub fn validate(self) -> Result<Self, (&'static str, InvalidValue)> {
        for (field, labels) in [
            ("severity", &self.severity),
            ("source", &self.source),
            ("name", &self.name),
        ] {
            if labels.is_empty() || labels.len() > MAX_LABELS {
                return Err((
                    field,
                    InvalidValue::new(format!(
                        "must list 1 to {MAX_LABELS} label names (got {})",
                        labels.len()
                    )),
                ));
            }
            if let Some(bad) = labels.iter().find(|label| !is_label_name(label)) {
                return Err((
                    field,
                    InvalidValue::new(format!(
                        "{bad:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, at most {MAX_LABEL_CHARS} characters)"
                    )),
                ));
            }
        }
        Ok(self)
    }
}

impl LabelMapping {
    /// `client_id`'s mapping from its column (null: the defaults). Only the API writes
    /// it, checked; anything unreadable is logged and read as the defaults.
    pub fn stored(client_id: &str, column: Option<&str>) -> Self {
        column
            .and_then(|json| {
                serde_json::from_str(json)
                    .map_err(|err| {
                        tracing::warn!(client_id, error = %err, "unreadable label mapping; using the defaults");
                    })
                    .ok()
            })
            .unwrap_or_default()
    }
}

fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_LABEL_CHARS
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_keep_their_defaults() {
        let mapping: LabelMapping =
            serde_json::from_str(r#"{"severity": ["priority"]}"#).expect("a mapping");
        assert_eq!(
            mapping,
            LabelMapping {
                severity: vec!["priority".to_owned()],
                ..LabelMapping::default()
            }
        );
    }

    #[test]
    fn only_label_names_are_taken() {
        let with = |labels: &[&str]| LabelMapping {
            source: labels.iter().map(|l| (*l).to_owned()).collect(),
            ..LabelMapping::default()
        };
        assert!(with(&["service", "_x", "k8s_app"]).validate().is_ok());
        for bad in [
            vec![],
            vec!["1st"],
            vec!["has-dash"],
            vec!["a.b"],
            vec![""],
            vec!["ä"],
            vec!["x"; 9],
        ] {
            let refused = with(&bad).validate().expect_err("refused");
            assert_eq!(refused.0, "source", "{bad:?}");
        }
        assert!(with(&["x".repeat(129).as_str()]).validate().is_err());
    }
}
