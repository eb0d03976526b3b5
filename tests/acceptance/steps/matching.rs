//! Steps of `features/matching.feature`: disabled rules and endpoints, a deleted rule,
//! and a webhook that receives nothing (access.feature checks that too).

use std::{collections::BTreeSet, time::Duration};

use cucumber::{given, then, when};
use serde_json::json;

use super::Alerting;

#[given(
    expr = "{string} has a disabled rule {string} for severity {string}, source {string} and name {string}"
)]
async fn disabled_rule(
    w: &mut Alerting,
    client: String,
    alias: String,
    severity: String,
    source: String,
    name: String,
) {
    w.create_rule(&client, &alias, &severity, &source, &name, false)
        .await;
}

#[given(expr = "the rule {string} sends to the disabled webhook {string}")]
async fn disabled_webhook(w: &mut Alerting, rule: String, webhook: String) {
    let url = w.platform.sink.url(&w.name(&webhook));
    w.add_endpoint(
        &rule,
        json!({"type": "webhook", "value": url, "enabled": false}),
    )
    .await;
}

#[when(expr = "I delete the rule {string} at version {int}")]
async fn delete(w: &mut Alerting, rule: String, version: i64) {
    let path = format!("/api/v1/rules/{}?version={version}", w.rule(&rule));
    w.api(reqwest::Method::DELETE, &path, None).await;
}

#[then(expr = "the webhook {string} receives nothing")]
async fn webhook_nothing(w: &mut Alerting, webhook: String) {
    // Checked after the scenario's other deliveries have arrived.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(w.platform.sink.received(&w.name(&webhook)).is_empty());
}

#[then(expr = "the webhook {string} receives {int} notifications")]
async fn webhook_count(w: &mut Alerting, webhook: String, count: usize) {
    let got = w.webhook_alerts(&webhook, count).await;
    assert_eq!(got.len(), count);
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>().len(),
        count,
        "all different alerts"
    );
}
