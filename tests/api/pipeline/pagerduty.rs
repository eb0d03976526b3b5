//! PagerDuty's Events API v2 (`POST /v2/enqueue`), as its client libraries call it:
//! the routing key is an ingest key; a trigger is delivered once however often it is
//! sent, an acknowledge acknowledges, a resolve delivers the resolution; answers and
//! errors in PagerDuty's shape, the key never echoed.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, Pipeline, tenancy::tenant, tools::hooked};

impl Pipeline {
    async fn enqueue(&self, event: Value) -> (u16, Value) {
        self.call(
            Method::POST,
            format!("{}/v2/enqueue", self.alert_producer),
            Some(event),
        )
        .await
    }
}

async fn pagerduty_events_trigger_acknowledge_and_resolve(mode: Mode) {
    let (p, sink, key, _) = hooked(mode).await;

    let trigger = json!({
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "db1/disk",
        "payload": {"summary": "Disk 99% full on db1", "source": "db1", "severity": "critical",
                    "component": "postgres", "custom_details": {"free": "1%"}},
        "client": "Example Monitoring", "client_url": "https://monitoring.example.com"
    });
    let (status, answer) = p.enqueue(trigger.clone()).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "success", "message": "Event processed", "dedup_key": "db1/disk"})
    );
    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Sent again (a tool re-triggering): it folds.
    let (status, _) = p.enqueue(trigger).await;
    assert_eq!(status, 202);
    let detail = p.notification_when(&id, |n| n["occurrences"] == 2).await;
    assert_eq!(detail["status"], "SENT", "{detail:#}");
    let hooks = sink.received("hook");
    assert_eq!(hooks.len(), 1);
    let body = hooks[0].json();
    assert_eq!(body["alert"]["name"], "Disk 99% full on db1");
    assert_eq!(body["alert"]["severity"], "CRITICAL");
    assert_eq!(body["alert"]["context"]["custom_details.free"], "1%");

    let (status, answer) = p
        .enqueue(
            json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "db1/disk"}),
        )
        .await;
    assert_eq!(
        (status, &answer["status"]),
        (202, &json!("success")),
        "{answer}"
    );
    let detail = p.notification(&id).await;
    assert_eq!(detail["state"], "acknowledged", "{detail:#}");
    assert!(
        detail["acknowledged_by"]
            .as_str()
            .is_some_and(|by| by.ends_with("(PagerDuty event)")),
        "{detail:#}"
    );

    let (status, _) = p
        .enqueue(json!({"routing_key": key, "event_action": "resolve", "dedup_key": "db1/disk"}))
        .await;
    assert_eq!(status, 202);
    let detail = p.resolution_settled(&id).await;
    assert_eq!(detail["state"], "resolved", "{detail:#}");
    assert_eq!(sink.received("hook")[1].json()["status"], "resolved");
}

/// Bad events are refused in PagerDuty's shape, each problem named; a routing key that
/// is not an ingest key is refused without being echoed; nothing is published.
async fn bad_pagerduty_events_are_refused(mode: Mode) {
    let mut p = Pipeline::start(mode).await;
    let (_, key) = tenant(&p, "acme", false).await;
    p.wait_for_rules(1).await;
    let (status, answer) = p
        .enqueue(json!({"routing_key": key, "event_action": "trigger",
                        "payload": {"summary": "down", "source": "web", "severity": "fatal"}}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["status"], "invalid event");
    assert_eq!(
        answer["errors"],
        json!(["'payload.severity' must be critical, error, warning or info"])
    );
    let (status, answer) = p
        .enqueue(json!({"routing_key": key, "event_action": "resolve"}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["errors"],
        json!(["'dedup_key' is required to acknowledge or resolve"])
    );
    let manage_only = p
        .api(
            Method::POST,
            "/api/v1/clients/acme/keys",
            Some(json!({"scopes": ["manage"]})),
        )
        .await;
    let (_, shared) = tenant(&p, "feed", true).await;
    let forged = "ak_not-a-key-of-ours-0123456789abcdef";
    let not_a_client =
        "'routing_key' must be a client's own ingest key (not the admin token, not a shared key)";
    for (routing_key, error) in [
        (
            json!(forged),
            "'routing_key' is not an ingest key of this platform",
        ),
        (json!(12345), "'routing_key' must be a string"),
        (
            manage_only["key"].clone(),
            "'routing_key' is a key without the ingest scope",
        ),
        // Acknowledges and resolves are a client's own.
        (json!(shared), not_a_client),
        (json!(alerting_test_support::ADMIN_TOKEN), not_a_client),
    ] {
        let (status, answer) = p
            .enqueue(
                json!({"routing_key": routing_key, "event_action": "trigger",
                            "payload": {"summary": "down", "source": "web", "severity": "info"}}),
            )
            .await;
        assert_eq!(
            (status, &answer["errors"]),
            (400, &json!([error])),
            "{answer}"
        );
        // Never echoed.
        let text = answer.to_string();
        assert!(!text.contains(forged) && !text.contains("12345"), "{text}");
    }
    let (status, answer) = p
        .enqueue(json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "a\u{0}b"}))
        .await;
    assert_eq!(status, 400, "a key no notification can hold: {answer}");
    p.assert_no_other_matches(0).await;
}

on_both_modes!(
    pagerduty_events_trigger_acknowledge_and_resolve,
    bad_pagerduty_events_are_refused
);
