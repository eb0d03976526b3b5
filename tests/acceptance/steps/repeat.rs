//! Steps of repeats and auto-resolve (`features/acknowledge.feature`,
//! `features/resolve.feature`): a rule's intervals, the repeats a webhook receives, and
//! that an acknowledged notification repeats no more.

use std::time::Duration;

use cucumber::{given, then};
use serde_json::{Value, json};

use super::{Alerting, PATIENCE};

impl Alerting {
    /// Sets one of a rule's intervals (`repeat_interval`, `auto_resolve_after`).
    async fn set_interval(&mut self, rule: &str, field: &str, value: &str) {
        let path = format!("/api/v1/rules/{}", self.rule(rule));
        let current = self.ok(reqwest::Method::GET, &path, None).await;
        let body = json!({"version": current["version"], field: value});
        self.ok(reqwest::Method::PATCH, &path, Some(body)).await;
    }

    /// The repeats of `alert` a webhook received so far.
    fn repeats_received(&self, webhook: &str, alert: &str) -> Vec<Value> {
        self.platform
            .sink
            .received(&self.name(webhook))
            .iter()
            .map(|r| r.json())
            .filter(|body| body["alert"]["alert_id"] == self.name(alert).as_str())
            .filter(|body| body.get("repeat").is_some())
            .collect()
    }
}

#[given(expr = "the rule {string} repeats every {string}")]
async fn repeats_every(w: &mut Alerting, rule: String, interval: String) {
    w.set_interval(&rule, "repeat_interval", &interval).await;
}

#[given(expr = "the rule {string} resolves itself after {string} without an alert")]
async fn resolves_after(w: &mut Alerting, rule: String, interval: String) {
    w.set_interval(&rule, "auto_resolve_after", &interval).await;
}

#[then(expr = "the webhook {string} receives {int} repeats of {string}")]
async fn receives_repeats(w: &mut Alerting, webhook: String, count: usize, alert: String) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while w.repeats_received(&webhook, &alert).len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} repeats of {alert} never reached {webhook}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let numbers: Vec<Value> = w
        .repeats_received(&webhook, &alert)
        .iter()
        .map(|body| body["repeat"].clone())
        .collect();
    assert_eq!(
        numbers[..count],
        (1..=count).map(|n| json!(n)).collect::<Vec<_>>()[..]
    );
}

#[then(
    expr = "the webhook {string} got no repeat of {string} for {string} after its acknowledgement"
)]
async fn not_repeated_since(w: &mut Alerting, webhook: String, alert: String, client: String) {
    let at_acknowledgement = w
        .repeats_at_acknowledgement
        .get(&alert)
        .cloned()
        .unwrap_or_else(|| panic!("{alert} was not acknowledged in this scenario"));
    // A repeat being delivered when it was acknowledged may still be on its way.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let notification = loop {
        let notification = w.notification_of(&alert, &client).await;
        if notification["repeat_status"] != "PENDING" {
            break notification;
        }
        assert!(tokio::time::Instant::now() < deadline, "{notification:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        notification["repeats"], at_acknowledgement,
        "{notification:#}"
    );
    assert_eq!(
        notification["next_repeat_at"],
        Value::Null,
        "{notification:#}"
    );
    // One announced just before may have been dropped, never one after.
    let last = at_acknowledgement.as_i64().unwrap_or_default();
    let numbers: Vec<i64> = w
        .repeats_received(&webhook, &alert)
        .iter()
        .filter_map(|body| body["repeat"].as_i64())
        .collect();
    assert!(
        numbers.iter().all(|n| *n <= last),
        "repeats delivered {numbers:?}, {last} before the acknowledgement"
    );
}
