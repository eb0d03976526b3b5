//! An alert as the Prometheus family describes it (labels, annotations, when it
//! started and ended), and how it becomes ours: shared by Prometheus's posts,
//! Alertmanager's webhooks and Grafana's. Each integration only says how its payload
//! fills one in. Which labels give the name, severity and source is the client's
//! label mapping (`crate::domain::LabelMapping`).
//!
//! The label set's fingerprint is the dedup key (every resend of a firing alert folds
//! into one notification, and the resolved one resolves it); the fingerprint and the
//! start name the alert (a resend is the same alert, counted once; the next time it
//! fires is another).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::de::DeserializeOwned;

use super::labels;
use crate::{
    domain::{Alert, AlertParts, LabelMapping, MAX_BATCH},
    http::{ApiError, error::ItemError},
};

/// One alert of a payload, as the integration read it.
pub struct Labeled {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// What the payload says of it: `Some(true)` resolved, `Some(false)` firing; `None`
    /// decides by `ends_at` (at or before now: resolved).
    pub resolved: Option<bool>,
    /// The sender's own fingerprint, if it sends one; else it is computed.
    pub fingerprint: Option<String>,
    /// The source when the labels name none (neither `job` nor `source`).
    pub default_source: &'static str,
    /// More context: links, values.
    pub extra: Vec<(&'static str, String)>,
}

/// A failure, by field.
type Failures = Vec<(String, String)>;

impl Labeled {
    fn into_alert(self, mapping: &LabelMapping, now: DateTime<Utc>) -> Result<Alert, Failures> {
        fn one(field: &str, message: String) -> Failures {
            vec![(field.to_owned(), message)]
        }
        // Validated: never empty.
        let label = |names: &[String]| format!("labels.{}", names.join("|"));
        let Some(name) = labels::first(&self.labels, &mapping.name) else {
            return Err(one(
                &label(&mapping.name),
                "is required: it names the alert".to_owned(),
            ));
        };
        let severity = labels::severity_of(&self.labels, &mapping.severity);
        let source = labels::first(&self.labels, &mapping.source).unwrap_or(self.default_source);
        let starts_at = time(self.starts_at).map_err(|err| one("startsAt", err))?;
        let ends_at = time(self.ends_at).map_err(|err| one("endsAt", err))?;
        let resolved = self
            .resolved
            .unwrap_or_else(|| ends_at.is_some_and(|ends| ends <= now));
        let fingerprint = self
            .fingerprint
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| labels::fingerprint(&self.labels));
        let started = starts_at.unwrap_or(now).timestamp_millis();
        let alert_id = if resolved {
            format!("{fingerprint}:{started}:resolved")
        } else {
            format!("{fingerprint}:{started}")
        };
        let event_ts = if resolved { ends_at } else { starts_at }
            .unwrap_or(now)
            .to_rfc3339();
        let context = labels::context(&self.labels, &self.annotations, self.extra);
        let parts = AlertParts {
            alert_id: Some(&alert_id),
            event_ts: Some(&event_ts),
            severity: severity.as_str(),
            source,
            name,
            context: Some(&context),
            dedup_key: Some(&fingerprint),
            status: Some(if resolved { "resolved" } else { "firing" }),
        };
        Alert::parse(parts, now).map_err(|fields| {
            fields
                .into_iter()
                .map(|field| {
                    // Our names for what came from labels: say which label it was.
                    let named = match field.field {
                        "source" => label(&mapping.source),
                        "name" => label(&mapping.name),
                        "context" => "labels, annotations and links together".to_owned(),
                        "dedup_key" => "fingerprint".to_owned(),
                        other => other.to_owned(),
                    };
                    (named, field.message)
                })
                .collect()
        })
    }
}

/// Our alerts from a payload's `items` (at most [`MAX_BATCH`]), each read as a `T`,
/// described by `describe` and mapped by a client's `mapping`; every invalid item
/// reported by its index and field (under `prefix`, the items' place in the payload),
/// and none published if any is.
pub fn parse_items<T: DeserializeOwned>(
    items: Vec<serde_json::Value>,
    prefix: &str,
    mapping: &LabelMapping,
    now: DateTime<Utc>,
    describe: impl Fn(T) -> Labeled,
) -> Result<Vec<Alert>, ApiError> {
    let total = items.len();
    if total > MAX_BATCH {
        let field = prefix.strip_suffix('.').unwrap_or("body");
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_BATCH} alerts per request (got {total})"),
        ));
    }
    let mut alerts = Vec::with_capacity(total);
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let outcome = match serde_path_to_error::deserialize::<_, T>(item) {
            Ok(input) => describe(input).into_alert(mapping, now),
            Err(err) => Err(vec![(err.path().to_string(), err.into_inner().to_string())]),
        };
        match outcome {
            Ok(alert) => alerts.push(alert),
            Err(failures) => {
                errors.extend(failures.into_iter().map(|(field, message)| ItemError {
                    index,
                    field: format!("{prefix}{field}"),
                    message,
                }))
            }
        }
    }
    if !errors.is_empty() {
        let mut indexes: Vec<usize> = errors.iter().map(|e| e.index).collect();
        indexes.dedup();
        return Err(ApiError::InvalidBatch {
            invalid: indexes.len(),
            total,
            items: errors,
        });
    }
    Ok(alerts)
}

/// An RFC 3339 time, absent when missing or Go's zero time (year 1, what Alertmanager
/// and Grafana send for "not ended").
fn time(value: Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(&value)
        .map_err(|err| format!("must be an RFC 3339 timestamp ({err})"))?
        .with_timezone(&Utc);
    Ok((parsed.year() > 1).then_some(parsed))
}
