//! Steps of `features/resolve.feature`: resolved alerts, a person resolving, and what
//! the webhook and the notification's record then say.

use std::time::Duration;

use cucumber::{then, when};
use serde_json::json;

use super::{Alerting, PATIENCE};

#[when(
    expr = "the alert {string} resolving dedup key {string} arrives with severity {string}, source {string} and name {string}"
)]
async fn resolving_alert(
    w: &mut Alerting,
    id: String,
    key: String,
    severity: String,
    source: String,
    name: String,
) {
    let body = json!({
        "alert_id": w.name(&id), "dedup_key": key, "status": "resolved",
        "severity": severity, "source": source, "name": name,
        "context": {"scenario": w.prefix},
    });
    let url = format!("{}/api/v1/alerts", w.platform.alert_producer);
    let (status, body) = w.call(reqwest::Method::POST, url, Some(body)).await;
    assert_eq!(status, 202, "{body}");
}

#[when(expr = "the admin resolves the notification of {string} for {string}")]
async fn resolve(w: &mut Alerting, alert: String, client: String) {
    w.act_on(&alert, &client, "resolve").await;
}

#[then(expr = "the webhook {string} receives the resolution of {string}")]
async fn receives_resolution(w: &mut Alerting, webhook: String, alert: String) {
    let (path, alert) = (w.name(&webhook), w.name(&alert));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let resolutions: Vec<serde_json::Value> = w
            .platform
            .sink
            .received(&path)
            .iter()
            .map(|r| r.json())
            .filter(|body| body["status"] == "resolved" && body["alert"]["alert_id"] == alert)
            .collect();
        if !resolutions.is_empty() {
            assert_eq!(resolutions.len(), 1, "one resolution: {resolutions:#?}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no resolution of {alert} at {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn resolved_by(w: &mut Alerting, alert: &str, client: &str, who: &str) {
    let notification = w.notification_of(alert, client).await;
    assert_eq!(notification["state"], "resolved", "{notification:#}");
    assert_eq!(notification["resolved_by"], who, "{notification:#}");
}

#[then(expr = "the notification of {string} for {string} is resolved by the alert {string}")]
async fn resolved_by_alert(w: &mut Alerting, alert: String, client: String, by: String) {
    let who = format!("alert {}", w.name(&by));
    resolved_by(w, &alert, &client, &who).await;
}

#[then(expr = "the notification of {string} for {string} is resolved by {string}")]
async fn resolved_by_person(w: &mut Alerting, alert: String, client: String, who: String) {
    resolved_by(w, &alert, &client, &who).await;
}
