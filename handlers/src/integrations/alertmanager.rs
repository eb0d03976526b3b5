//! Alertmanager's webhook (`webhook_config`, payload version 4): a group of alerts,
//! each with its status, labels, annotations, start, end and fingerprint. Alertmanager
//! sends a group again when it changes and every `repeat_interval`: an alert sent again
//! is the same alert, and its `resolved` one resolves it. Grafana's webhook contact
//! point sends the same shape, with links of its own (`grafana`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::labeled::{Labeled, parse_items};
use crate::{
    domain::{Alert, LabelMapping},
    http::ApiError,
};

/// A webhook's body, as Alertmanager (and Grafana) send it. Only `alerts` is read; the
/// rest describes the group.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookMessage {
    /// "4".
    pub version: Option<String>,
    /// The group's: firing while any of its alerts fires.
    pub status: Option<String>,
    pub receiver: Option<String>,
    #[serde(rename = "groupKey")]
    pub group_key: Option<String>,
    #[serde(rename = "externalURL")]
    pub external_url: Option<String>,
    pub alerts: Vec<WebhookAlert>,
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    Firing,
    Resolved,
}

/// One alert of the group.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookAlert {
    pub status: WebhookStatus,
    /// Must hold `alertname`; `severity` and `job` (or `source`) as for Prometheus.
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// The label set's fingerprint: the dedup key (computed when absent).
    pub fingerprint: Option<String>,
    /// Grafana's.
    #[serde(rename = "silenceURL")]
    pub silence_url: Option<String>,
    #[serde(rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
    #[serde(rename = "panelURL")]
    pub panel_url: Option<String>,
    #[serde(rename = "valueString")]
    pub value_string: Option<String>,
}

impl WebhookAlert {
    fn labeled(self, default_source: &'static str) -> Labeled {
        let links = [
            ("generator_url", self.generator_url),
            ("silence_url", self.silence_url),
            ("dashboard_url", self.dashboard_url),
            ("panel_url", self.panel_url),
            ("values", self.value_string),
        ];
        Labeled {
            labels: self.labels,
            annotations: self.annotations,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            resolved: Some(matches!(self.status, WebhookStatus::Resolved)),
            fingerprint: self.fingerprint,
            default_source,
            extra: links
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect(),
        }
    }
}

/// Our alerts from a webhook body (a JSON object with `alerts`), every invalid alert
/// reported by its index and field; `default_source` when an alert's labels name none.
pub fn parse(
    body: serde_json::Value,
    default_source: &'static str,
    mapping: &LabelMapping,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, ApiError> {
    let serde_json::Value::Object(mut message) = body else {
        return Err(ApiError::invalid(
            "body",
            "must be a webhook message (an object with `alerts`)",
        ));
    };
    let Some(serde_json::Value::Array(alerts)) = message.remove("alerts") else {
        return Err(ApiError::invalid(
            "alerts",
            "is required: an array of alerts",
        ));
    };
    parse_items(alerts, "alerts.", mapping, now, |alert: WebhookAlert| {
        alert.labeled(default_source)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::AlertStatus;

    /// Alertmanager's documented example (a v4 payload), one alert firing and one
    /// resolved.
    fn message() -> serde_json::Value {
        json!({
            "receiver": "alerting",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "ProbeFailure", "instance": "https://server.example.org", "job": "http_checks", "severity": "critical"},
                    "annotations": {"summary": "BlackBox Probe Failure: https://server.example.org"},
                    "startsAt": "2023-02-06T13:08:45.828Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0",
                    "fingerprint": "1a30ba71cca2921f"
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "DiskFull", "job": "node", "severity": "warning"},
                    "annotations": {},
                    "startsAt": "2023-02-06T12:00:00Z",
                    "endsAt": "2023-02-06T13:00:00Z",
                    "generatorURL": "",
                    "fingerprint": "0a1b2c3d4e5f6071"
                }
            ],
            "groupLabels": {"alertname": "ProbeFailure"},
            "commonLabels": {"alertname": "ProbeFailure"},
            "commonAnnotations": {},
            "externalURL": "http://prometheus.example.org:9093",
            "version": "4",
            "groupKey": "{}/{severity=\"critical\"}:{alertname=\"ProbeFailure\"}",
            "truncatedAlerts": 0
        })
    }

    #[test]
    fn each_alert_of_a_group_fires_or_resolves_by_its_own_status() {
        let alerts = parse(
            message(),
            "alertmanager",
            &LabelMapping::default(),
            Utc::now(),
        )
        .expect("parsed");
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].status, AlertStatus::Firing);
        assert_eq!(alerts[0].dedup_key.as_deref(), Some("1a30ba71cca2921f"));
        assert_eq!(alerts[0].name, "ProbeFailure");
        assert_eq!(alerts[0].source, "http_checks");
        assert_eq!(alerts[0].severity.as_str(), "CRITICAL");
        assert_eq!(alerts[1].status, AlertStatus::Resolved);
        assert_eq!(alerts[1].dedup_key.as_deref(), Some("0a1b2c3d4e5f6071"));
        assert_eq!(alerts[1].severity.as_str(), "MEDIUM");
        assert!(alerts[1].alert_id.ends_with(":resolved"));
        assert!(
            !alerts[1].context.contains_key("generator_url"),
            "empty: left out"
        );
    }

    #[test]
    fn a_bad_alert_is_named_within_the_group() {
        let mut bad = message();
        bad["alerts"][1]["status"] = json!("pending");
        let Err(ApiError::InvalidBatch { items, .. }) =
            parse(bad, "alertmanager", &LabelMapping::default(), Utc::now())
        else {
            panic!("refused");
        };
        assert_eq!(items[0].index, 1);
        assert_eq!(items[0].field, "alerts.status");
        let Err(ApiError::Invalid { field, .. }) = parse(
            json!({"receiver": "x"}),
            "alertmanager",
            &LabelMapping::default(),
            Utc::now(),
        ) else {
            panic!("refused");
        };
        assert_eq!(field, "alerts");
    }

    /// Grafana's documented webhook body: no severity or job label, links of its own.
    #[test]
    fn grafanas_alerts_take_their_links_and_the_defaults() {
        let body = json!({
            "receiver": "My Super Webhook",
            "status": "firing",
            "orgId": 1,
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
                "annotations": {"description": "The system has high memory usage", "runbook_url": "https://myrunbook.com/runbook/1234", "summary": "This alert was triggered for zone us-1"},
                "startsAt": "2021-10-12T09:51:03.157076+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
                "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 44.23943737541908, "C": 1},
                "valueString": "[ var='B' labels={} value=44.2 ], [ var='C' labels={} value=1 ]"
            }],
            "groupLabels": {"alertname": "High memory usage"},
            "commonLabels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "commonAnnotations": {},
            "externalURL": "https://play.grafana.org/",
            "version": "1",
            "groupKey": "{}:{alertname=\"High memory usage\"}",
            "truncatedAlerts": 0,
            "title": "[FIRING:1] High memory usage (blue us-1)",
            "state": "alerting",
            "message": "**Firing**"
        });
        let alerts = parse(body, "grafana", &LabelMapping::default(), Utc::now()).expect("parsed");
        let alert = &alerts[0];
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.dedup_key.as_deref(), Some("c6eadffa33fcdf37"));
        assert_eq!(
            (alert.source.as_str(), alert.severity.as_str()),
            ("grafana", "HIGH")
        );
        assert_eq!(alert.name, "High memory usage");
        assert_eq!(alert.context["zone"], "us-1");
        assert_eq!(
            alert.context["annotations.runbook_url"],
            "https://myrunbook.com/runbook/1234"
        );
        assert!(
            alert.context["silence_url"].starts_with("https://play.grafana.org/alerting/silence/")
        );
        assert!(alert.context["values"].contains("var='B'"));
        assert!(
            !alert.context.contains_key("dashboard_url"),
            "empty: left out"
        );
    }
}
