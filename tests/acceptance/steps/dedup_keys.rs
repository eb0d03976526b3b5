//! Steps of `features/dedup_keys.feature`: alerts sent with a dedup key, and how many
//! occurrences a notification counts.

use std::time::Duration;

use cucumber::{then, when};
use serde_json::json;

use super::{Alerting, PATIENCE};

#[when(
    expr = "the alert {string} with dedup key {string} arrives with severity {string}, source {string} and name {string}"
)]
async fn keyed_alert(
    w: &mut Alerting,
    id: String,
    key: String,
    severity: String,
    source: String,
    name: String,
) {
    let body = json!({
        "alert_id": w.name(&id), "dedup_key": key, "severity": severity,
        "source": source, "name": name, "context": {"scenario": w.prefix},
    });
    let url = format!("{}/api/v1/alerts", w.platform.alert_producer);
    let (status, body) = w.call(reqwest::Method::POST, url, Some(body)).await;
    assert_eq!(status, 202, "{body}");
}

/// Folding follows the first notification by a batch or two: waits for the count.
#[then(expr = "the notification of {string} for {string} counts {int} occurrence(s)")]
async fn occurrences(w: &mut Alerting, alert: String, client: String, count: i64) {
    let path = format!(
        "/api/v1/notifications?client_id={}&alert_id={}",
        w.name(&client),
        w.name(&alert)
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page = w.ok(reqwest::Method::GET, &path, None).await;
        let found = page["items"][0]["occurrences"].as_i64();
        if found == Some(count) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{alert} for {client}: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
