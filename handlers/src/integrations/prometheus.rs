//! Alertmanager's v2 ingest API (`POST /api/v2/alerts`), the one Prometheus posts its
//! alerts to: an array of `{labels, annotations, startsAt, endsAt, generatorURL}`.
//!
//! Prometheus sends every active alert again each minute (`--rules.alert.resend-delay`)
//! with an `endsAt` a few minutes ahead, and a resolved one (an `endsAt` now past) for
//! 15 minutes after: an `endsAt` at or before now resolves (`labeled` says the rest).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::labeled::{Labeled, parse_items};
use crate::{
    domain::{Alert, LabelMapping},
    http::ApiError,
};

/// An alert as Prometheus posts it to an Alertmanager.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PostableAlert {
    /// Must hold `alertname`; `severity` sets the severity (critical, warning, info, …;
    /// HIGH when absent) and `job` (or `source`) the source: the defaults of a client's
    /// `label_mapping`, which may name other labels.
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(rename = "startsAt")]
    pub starts_at: Option<String>,
    /// RFC 3339; at or before now: the alert is resolved.
    #[serde(rename = "endsAt")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: Option<String>,
}

/// Our alerts from a Prometheus batch, every invalid item reported by its index.
pub fn parse(
    items: Vec<serde_json::Value>,
    mapping: &LabelMapping,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, ApiError> {
    parse_items(items, "", mapping, now, |alert: PostableAlert| Labeled {
        labels: alert.labels,
        annotations: alert.annotations,
        starts_at: alert.starts_at,
        ends_at: alert.ends_at,
        resolved: None,
        fingerprint: None,
        default_source: "prometheus",
        extra: vec![("generator_url", alert.generator_url.unwrap_or_default())],
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::AlertStatus;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn posted(ends_at: &str) -> serde_json::Value {
        json!({
            "labels": {"alertname": "DiskFull", "job": "node", "severity": "critical", "instance": "db1:9100"},
            "annotations": {"summary": "disk 95 % full"},
            "startsAt": "2026-12-07T09:58:00.123456789Z",
            "endsAt": ends_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=disk"
        })
    }

    #[test]
    fn a_firing_alert_is_keyed_by_its_label_set() {
        let alerts = parse(
            vec![posted("2026-12-07T10:04:00Z")],
            &LabelMapping::default(),
            now(),
        )
        .expect("parsed");
        let alert = &alerts[0];
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.dedup_key.as_deref(), Some("1751650d45bf7d6b"));
        assert_eq!(alert.alert_id, "1751650d45bf7d6b:1796637480123");
        assert_eq!(alert.name, "DiskFull");
        assert_eq!(alert.source, "node");
        assert_eq!(alert.severity.as_str(), "CRITICAL");
        assert_eq!(alert.context["instance"], "db1:9100");
        assert_eq!(alert.context["annotations.summary"], "disk 95 % full");
        assert_eq!(
            alert.context["generator_url"],
            "http://prometheus:9090/graph?g0.expr=disk"
        );
    }

    #[test]
    fn an_end_in_the_past_resolves_and_a_resend_is_the_same_alert() {
        let resolved = parse(
            vec![posted("2026-12-07T09:59:30Z")],
            &LabelMapping::default(),
            now(),
        )
        .expect("parsed");
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
        assert_eq!(resolved[0].dedup_key.as_deref(), Some("1751650d45bf7d6b"));
        assert_eq!(
            resolved[0].alert_id,
            "1751650d45bf7d6b:1796637480123:resolved"
        );
        let again = parse(
            vec![posted("2026-12-07T10:05:00Z")],
            &LabelMapping::default(),
            now(),
        )
        .expect("parsed");
        let first = parse(
            vec![posted("2026-12-07T10:04:00Z")],
            &LabelMapping::default(),
            now(),
        )
        .expect("parsed");
        assert_eq!(again[0].alert_id, first[0].alert_id);
        // Go's zero time is no end.
        let zero = parse(
            vec![posted("0001-01-01T00:00:00Z")],
            &LabelMapping::default(),
            now(),
        )
        .expect("parsed");
        assert_eq!(zero[0].status, AlertStatus::Firing);
    }

    #[test]
    fn a_clients_mapping_names_its_own_labels() {
        let mapping = LabelMapping {
            severity: vec!["priority".to_owned(), "severity".to_owned()],
            source: vec!["service".to_owned()],
            name: vec!["title".to_owned(), "alertname".to_owned()],
        };
        let item = json!({"labels": {"title": "Checkout slow", "alertname": "Latency",
            "priority": "P1", "severity": "info", "service": "checkout", "job": "api"}});
        // A priority of no meaning gives way to the next label.
        let urgent =
            json!({"labels": {"alertname": "Disk", "priority": "urgent", "severity": "critical"}});
        assert_eq!(
            parse(vec![urgent], &mapping, now()).expect("parsed")[0].severity,
            crate::domain::Severity::Critical
        );
        let alert = &parse(vec![item], &mapping, now()).expect("parsed")[0];
        assert_eq!(
            (alert.name.as_str(), alert.severity, alert.source.as_str()),
            (
                "Checkout slow",
                crate::domain::Severity::Critical,
                "checkout"
            )
        );
        // None of the source's labels: the integration's name, not `job`.
        let item = json!({"labels": {"alertname": "Latency", "job": "api"}});
        let alert = &parse(vec![item], &mapping, now()).expect("parsed")[0];
        assert_eq!(
            (alert.name.as_str(), alert.source.as_str()),
            ("Latency", "prometheus")
        );
        let Err(ApiError::InvalidBatch { items, .. }) =
            parse(vec![json!({"labels": {"job": "api"}})], &mapping, now())
        else {
            panic!("refused");
        };
        assert_eq!(items[0].field, "labels.title|alertname");
    }

    #[test]
    fn more_than_a_batch_is_refused_whole() {
        let items = vec![posted("2026-12-07T10:04:00Z"); crate::domain::MAX_BATCH + 1];
        let refused = parse(items, &LabelMapping::default(), now()).err();
        assert!(
            matches!(&refused, Some(ApiError::Invalid { field, .. }) if field == "body"),
            "{refused:?}"
        );
    }

    #[test]
    fn each_bad_item_is_named_by_index_and_field() {
        let items = vec![
            posted("2026-12-07T10:04:00Z"),
            json!({"labels": {"job": "node"}}),
            json!({"labels": {"alertname": "X", "severity": "purple"}, "endsAt": "soon"}),
            json!({"labels": {"alertname": "X"}, "startsAt": "yesterday"}),
            json!({"labels": "nope"}),
        ];
        let Err(ApiError::InvalidBatch {
            invalid,
            total,
            items,
        }) = parse(items, &LabelMapping::default(), now())
        else {
            panic!("refused");
        };
        assert_eq!((invalid, total), (4, 5));
        let fields: Vec<(usize, &str)> =
            items.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(
            fields,
            [
                (1, "labels.alertname"),
                (2, "endsAt"),
                (3, "startsAt"),
                (4, "labels")
            ]
        );
    }
}
