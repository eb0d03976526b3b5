//! Repeats and auto-resolve end to end, in both modes: a rule with `repeat_interval`
//! delivers its open notification again once per interval (each repeat with its own
//! idempotency key, the webhook's body and Slack's text saying which repeat) until a
//! person acknowledges it; a rule with `auto_resolve_after` resolves a notification
//! that has had no occurrence for that long, and the resolution is delivered.

use std::time::Duration;

use alerting_test_support::sinks::HttpSink;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, PATIENCE, Pipeline, fast_delivery};

impl Pipeline {
    /// A rule of `client_id` for alerts of `source`, with `intervals` (its
    /// `repeat_interval` and `auto_resolve_after`, as JSON fields).
    async fn timed_rule(&self, client_id: &str, source: &str, intervals: Value) -> String {
        let mut body =
            json!({"client_id": client_id, "severity": "*", "source": source, "name": "*"});
        if let (Some(body), Some(intervals)) = (body.as_object_mut(), intervals.as_object()) {
            body.extend(intervals.clone());
        }
        let rule = self.api(Method::POST, "/api/v1/rules", Some(body)).await;
        rule["rule_id"].as_str().expect("rule_id").to_owned()
    }
}

async fn an_open_notification_repeats_until_someone_acknowledges_it(mode: Mode) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(None)).await;
    p.client("acme").await;
    let rule = p
        .timed_rule("acme", "db", json!({"repeat_interval": "1s"}))
        .await;
    let hook = p
        .endpoint(&rule, json!({"type": "webhook", "value": sink.url("hook")}))
        .await;
    p.endpoint(&rule, json!({"type": "slack", "value": sink.url("slack")}))
        .await;
    // A second notification that nobody acknowledges: its repeats show time passing.
    let other = p
        .timed_rule("acme", "web", json!({"repeat_interval": "1s"}))
        .await;
    p.endpoint(
        &other,
        json!({"type": "webhook", "value": sink.url("other")}),
    )
    .await;
    p.wait_for_rules(2).await;

    p.send(json!({"alert_id": "disk-1", "severity": "HIGH", "source": "db", "name": "disk full"}))
        .await;
    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(notified[0]["repeat_interval"], "1s", "{notified:#?}");

    let hooks = sink.wait_for("hook", 3).await;
    let keys: Vec<Option<&str>> = hooks.iter().map(|h| h.header("idempotency-key")).collect();
    assert_eq!(
        keys,
        [
            Some(format!("{id}:{hook}").as_str()),
            Some(format!("{id}:{hook}:repeat-1").as_str()),
            Some(format!("{id}:{hook}:repeat-2").as_str()),
        ]
    );
    assert_eq!(
        hooks[0].json().get("repeat"),
        None,
        "the first delivery is no repeat"
    );
    assert_eq!(hooks[2].json()["repeat"], 2);
    assert_eq!(hooks[2].json()["status"], "firing");
    let slack = sink.wait_for("slack", 2).await;
    let text = slack[1].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(text, "Still firing (repeat 1): [HIGH] db: disk full");

    let acked = p
        .api(
            Method::POST,
            &format!("/api/v1/notifications/{id}/acknowledge"),
            Some(json!({})),
        )
        .await;
    let repeats = acked["repeats"].as_i64().expect("repeats");
    assert_eq!(acked["next_repeat_at"], Value::Null, "{acked:#}");
    // Two more repeats of the other notification: the timer ran past the interval
    // twice since, and repeated nothing acknowledged.
    p.send(json!({"alert_id": "cpu-1", "severity": "LOW", "source": "web", "name": "cpu"}))
        .await;
    sink.wait_for("other", 3).await;
    let detail = p
        .notification_when(&id, |d| d["repeat_status"] != "PENDING")
        .await;
    assert_eq!(detail["repeats"], repeats, "{detail:#}");
    // A repeat announced just before may have been dropped, never one after.
    let numbers: Vec<i64> = sink
        .received("hook")
        .iter()
        .filter_map(|h| h.json()["repeat"].as_i64())
        .collect();
    assert!(
        numbers.iter().all(|n| *n <= repeats) && numbers.len() as i64 >= repeats - 1,
        "repeats delivered {numbers:?}, {repeats} announced before the acknowledgement"
    );
    let phases: Vec<&str> = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["endpoint_id"] == hook.as_str())
        .filter_map(|d| d["phase"].as_str())
        .collect();
    assert_eq!(phases.len(), 1 + numbers.len(), "{phases:?}");
    assert!(phases.contains(&"repeat-1"), "{phases:?}");
}

/// A pipeline where the client acme has one rule, of every alert, with `intervals`,
/// sending to the webhook "hook"; and the rule.
async fn one_timed_rule(mode: Mode, intervals: Value) -> (HttpSink, Pipeline, String) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(None)).await;
    p.client("acme").await;
    let rule = p.timed_rule("acme", "*", intervals).await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("hook")}))
        .await;
    p.wait_for_rules(1).await;
    (sink, p, rule)
}

async fn a_quiet_notification_resolves_itself_and_the_endpoints_are_told(mode: Mode) {
    let (sink, p, _) = one_timed_rule(mode, json!({"auto_resolve_after": "2s"})).await;
    p.send(json!({"alert_id": "disk-1", "severity": "HIGH", "source": "db", "name": "disk full", "dedup_key": "db1/disk"}))
        .await;
    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let detail = p.resolution_settled(&id).await;
    assert_eq!(
        detail["resolved_by"], "auto-resolve: no occurrence for 2s",
        "{detail:#}"
    );
    assert_eq!(detail["resolution_status"], "SENT");
    let hooks = sink.wait_for("hook", 2).await;
    assert_eq!(hooks[1].json()["status"], "resolved");
    assert!(
        hooks[1].json()["duration_seconds"].as_u64() >= Some(2),
        "{:#}",
        hooks[1].json()
    );
}

/// An endpoint added after the notification fired takes its repeats: it is told of the
/// resolution too, and no repeat follows the resolution.
async fn an_endpoint_that_took_only_repeats_hears_the_resolution(mode: Mode) {
    let (sink, p, rule) = one_timed_rule(mode, json!({"repeat_interval": "1s"})).await;
    let alert = json!({"alert_id": "disk-1", "severity": "HIGH", "source": "db", "name": "disk full", "dedup_key": "db1/disk"});
    p.send(alert.clone()).await;
    p.settled_notifications("acme", 1).await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("late")}))
        .await;
    let late = sink.wait_for("late", 1).await;
    assert!(late[0].json()["repeat"].is_i64(), "{:#}", late[0].json());

    let mut resolve = alert;
    resolve["alert_id"] = json!("disk-1-ok");
    resolve["status"] = json!("resolved");
    p.send(resolve).await;
    let told = tokio::time::timeout(PATIENCE, async {
        loop {
            let received = sink.received("late");
            if received.iter().any(|r| r.json()["status"] == "resolved") {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the endpoint that took only repeats is told of the resolution");
    let last = told.last().map(|r| r.json()).unwrap_or_default();
    assert_eq!(
        last["status"], "resolved",
        "nothing after the resolution: {told:#?}"
    );
}

on_both_modes!(
    an_open_notification_repeats_until_someone_acknowledges_it,
    an_endpoint_that_took_only_repeats_hears_the_resolution,
    a_quiet_notification_resolves_itself_and_the_endpoints_are_told,
);
