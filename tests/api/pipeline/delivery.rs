//! The whole flow: rules and endpoints through the API, alerts through
//! `POST /api/v1/alerts`, and what a local HTTP sink and SMTP server receive.

use std::{collections::BTreeMap, time::Duration};

use alerting_handlers::signature;
use alerting_test_support::sinks::{Answer, HttpSink, SmtpSink};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, PATIENCE, Pipeline, fast_delivery};

impl Pipeline {
    pub async fn endpoint(&self, rule_id: &str, body: Value) -> String {
        let endpoint = self
            .api(
                Method::POST,
                &format!("/api/v1/rules/{rule_id}/endpoints"),
                Some(body),
            )
            .await;
        endpoint["endpoint_id"].as_str().expect("id").to_owned()
    }

    /// The client's notifications once none is PENDING any more.
    pub async fn settled_notifications(&self, client_id: &str, count: usize) -> Vec<Value> {
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                let page = self
                    .api(
                        Method::GET,
                        &format!("/api/v1/notifications?client_id={client_id}&limit=200"),
                        None,
                    )
                    .await;
                let items = page["items"].as_array().cloned().unwrap_or_default();
                if items.len() == count && items.iter().all(|n| n["status"] != "PENDING") {
                    return items;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("{client_id}'s {count} notifications never settled"))
    }

    /// A notification's delivery to one endpoint.
    pub async fn delivery(&self, notification_id: &str, endpoint_id: &str) -> Value {
        let detail = self.notification(notification_id).await;
        detail["deliveries"]
            .as_array()
            .and_then(|all| all.iter().find(|d| d["endpoint_id"] == endpoint_id))
            .cloned()
            .unwrap_or_else(|| panic!("no delivery to {endpoint_id}: {detail:#}"))
    }

    pub async fn notification(&self, id: &str) -> Value {
        self.api(Method::GET, &format!("/api/v1/notifications/{id}"), None)
            .await
    }

    /// Notification `id` once `ready` holds for it.
    pub async fn notification_when(&self, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let detail = self.notification(id).await;
                if ready(&detail) {
                    return detail;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("notification {id} never got there"))
    }
}

fn ids(notifications: &[Value]) -> BTreeMap<String, String> {
    notifications
        .iter()
        .map(|n| {
            (
                n["alert_id"].as_str().unwrap_or_default().to_owned(),
                n["notification_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn every_channel_gets_each_notification_once(mode: Mode) {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(Some(smtp.url()))).await;
    p.client("acme").await;
    p.client("beta").await;
    let r1 = p.rule("acme", "HIGH", "payments", "*").await;
    let r2 = p.rule("acme", "*", "payments", "declined").await;
    let r3 = p.rule("beta", "*", "*", "*").await;
    let acme_hook = p
        .endpoint(
            &r1,
            json!({"type": "webhook", "value": sink.url("acme"), "secret": "acme-s3cret-0123456789"}),
        )
        .await;
    // The same webhook on a second rule: one delivery, not two.
    p.endpoint(
        &r2,
        json!({"type": "webhook", "value": sink.url("acme"), "secret": "acme-s3cret-0123456789"}),
    )
    .await;
    p.endpoint(&r1, json!({"type": "slack", "value": sink.url("slack")}))
        .await;
    p.endpoint(&r2, json!({"type": "email", "value": "oncall@acme.test"}))
        .await;
    p.endpoint(&r3, json!({"type": "webhook", "value": sink.url("beta")}))
        .await;
    p.endpoint(
        &r3,
        json!({"type": "webhook", "value": sink.url("disabled"), "enabled": false}),
    )
    .await;
    p.wait_for_rules(3).await;

    let first = json!({"alert_id": "n-1", "severity": "HIGH", "source": "payments", "name": "declined", "context": {"region": "eu-west-1", "card": "<visa> & co"}});
    p.send(first.clone()).await;
    p.send(json!({"alert_id": "n-2", "severity": "LOW", "source": "search", "name": "slow"}))
        .await;
    // The same alert again: still one notification per client.
    p.send(first).await;

    let acme = p.settled_notifications("acme", 1).await;
    let beta = p.settled_notifications("beta", 2).await;
    assert!(
        acme.iter().chain(&beta).all(|n| n["status"] == "SENT"),
        "{acme:#?} {beta:#?}"
    );
    let acme_id = ids(&acme)["n-1"].clone();
    let mut acme_rules: Vec<String> = acme[0]["rule_ids"]
        .as_array()
        .expect("rule ids")
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_owned())
        .collect();
    acme_rules.sort();
    let mut expected_rules = vec![r1.clone(), r2.clone()];
    expected_rules.sort();
    assert_eq!(acme_rules, expected_rules);

    // Exactly once per endpoint.
    let hooks = sink.received("acme");
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    let hook = &hooks[0];
    let timestamp: i64 = hook
        .header("x-alerting-timestamp")
        .expect("timestamp")
        .parse()
        .expect("seconds");
    let signed = hook.header("x-alerting-signature").expect("signature");
    assert!(
        signature::verify("acme-s3cret-0123456789", timestamp, &hook.body, signed),
        "valid signature"
    );
    assert!(!signature::verify("wrong", timestamp, &hook.body, signed));
    assert_eq!(
        hook.header("idempotency-key"),
        Some(format!("{acme_id}:{acme_hook}").as_str())
    );
    let body = hook.json();
    assert_eq!(body["notification_id"], acme_id.as_str());
    assert_eq!(body["client_id"], "acme");
    assert_eq!(body["alert"]["alert_id"], "n-1");
    assert_eq!(body["alert"]["severity"], "HIGH");
    assert_eq!(body["alert"]["context"]["region"], "eu-west-1");
    let mut body_rules: Vec<String> = body["rule_ids"]
        .as_array()
        .expect("rule ids")
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_owned())
        .collect();
    body_rules.sort();
    assert_eq!(body_rules, expected_rules);
    for at in ["created_at", "sent_at"] {
        assert!(
            body[at]
                .as_str()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
            "{at}: {body}"
        );
    }

    let slack = sink.received("slack");
    assert_eq!(slack.len(), 1);
    let message = slack[0].json();
    assert_eq!(message["text"], "[HIGH] payments: declined");
    let blocks = message["blocks"].to_string();
    assert!(
        blocks.contains("&lt;visa&gt; &amp; co"),
        "escaped: {message}"
    );
    for field in [
        "*Severity*\\nHIGH",
        "*Source*\\npayments",
        "*Name*\\ndeclined",
    ] {
        assert!(blocks.contains(field), "{field} in {message}");
    }

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].to, ["<oncall@acme.test>"]);
    assert_eq!(mails[0].from, "<alerting@sink.test>");
    assert!(
        mails[0].data.contains("Subject: [HIGH] payments: declined"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].data.contains("&lt;visa&gt; &amp; co"),
        "the HTML part is escaped: {}",
        mails[0].data
    );
    for part in [
        "multipart/alternative",
        "text/plain",
        "text/html",
        "card: <visa> & co",
    ] {
        assert!(
            mails[0].data.contains(part),
            "plain text beside the HTML ({part}): {}",
            mails[0].data
        );
    }

    let beta_hooks = sink.received("beta");
    assert_eq!(beta_hooks.len(), 2);
    assert!(
        beta_hooks
            .iter()
            .all(|h| h.header("x-alerting-signature").is_none()),
        "no secret, no signature"
    );
    let mut beta_alerts: Vec<String> = beta_hooks
        .iter()
        .map(|h| {
            h.json()["alert"]["alert_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    beta_alerts.sort();
    assert_eq!(beta_alerts, ["n-1", "n-2"]);
    assert!(
        sink.received("disabled").is_empty(),
        "disabled endpoints get nothing"
    );

    let detail = p.notification(&acme_id).await;
    let deliveries = detail["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 3, "webhook, slack, email: {detail:#}");
    assert!(
        deliveries
            .iter()
            .all(|d| d["status"] == "DELIVERED" && d["attempts"] == 1),
        "{detail:#}"
    );

    // Nothing else arrives later (a duplicate would come from a second announcement).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sink.all().len(), 4);
    assert_eq!(smtp.mails().len(), 1);
}

async fn failing_sinks_are_retried_then_redriven(mode: Mode) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start(mode).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    p.endpoint(
        &rule,
        json!({"type": "webhook", "value": sink.url("steady")}),
    )
    .await;
    let flaky = p
        .endpoint(
            &rule,
            json!({"type": "webhook", "value": sink.url("flaky")}),
        )
        .await;
    p.client("other").await;
    let other_rule = p.rule("other", "*", "*", "*").await;
    p.endpoint(
        &other_rule,
        json!({"type": "webhook", "value": sink.url("gone")}),
    )
    .await;
    sink.script(
        "flaky",
        vec![
            Answer::Status(500),
            Answer::Hang(Duration::from_secs(3)),
            Answer::Hang(Duration::from_secs(3)),
            Answer::TooManyRequests(1),
            Answer::Status(500),
        ],
    );
    sink.script("gone", vec![Answer::Status(410)]);
    p.wait_for_rules(2).await;

    p.send(json!({"alert_id": "f-1", "severity": "CRITICAL", "source": "db", "name": "down"}))
        .await;
    let acme = p.settled_notifications("acme", 1).await;
    assert_eq!(
        acme[0]["status"], "PARTIAL",
        "the steady endpoint got it, the flaky one did not"
    );
    let id = acme[0]["notification_id"].as_str().expect("id").to_owned();
    let flaky_delivery = p.delivery(&id, &flaky).await;
    assert_eq!(flaky_delivery["status"], "FAILED");
    assert_eq!(flaky_delivery["attempts"], 5);
    assert_eq!(flaky_delivery["last_http_status"], 500);
    assert!(
        flaky_delivery["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("gave up after 5 attempts"),
        "{flaky_delivery}"
    );

    let attempts = sink.received("flaky");
    assert_eq!(attempts.len(), 5, "500, timeout, timeout, 429, 500");
    let keys: std::collections::BTreeSet<_> = attempts
        .iter()
        .map(|a| a.header("idempotency-key").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "one idempotency key across attempts: {keys:?}"
    );
    assert!(
        attempts[4].at - attempts[3].at >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );

    // A 4xx other than 429 is not retried.
    let other = p.settled_notifications("other", 1).await;
    assert_eq!(other[0]["status"], "FAILED");
    assert_eq!(sink.received("gone").len(), 1);

    // Only FAILED and PARTIAL are retried.
    let retry_url = |id: &str| format!("{}/api/v1/notifications/{id}/retry", p.rule_service);
    let (status, body) = p
        .call(
            Method::POST,
            retry_url(&uuid::Uuid::new_v4().to_string()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");

    // The sink recovers; a redrive delivers to the flaky endpoint only.
    let (status, body) = p.call(Method::POST, retry_url(&id), None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "PENDING");
    let acme = p.settled_notifications("acme", 1).await;
    assert_eq!(acme[0]["status"], "SENT");
    let flaky_delivery = p.delivery(&id, &flaky).await;
    assert_eq!(flaky_delivery["status"], "DELIVERED");
    assert_eq!(flaky_delivery["attempts"], 6);
    assert!(flaky_delivery["delivered_at"].is_string());
    assert_eq!(sink.received("flaky").len(), 6);
    assert_eq!(
        sink.received("steady").len(),
        1,
        "delivered endpoints are skipped on a redrive"
    );
    let (status, body) = p.call(Method::POST, retry_url(&id), None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("not_retryable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_matches_and_announcements_are_dead_letters() {
    use alerting_handlers::ports::OutgoingMessage;
    use alerting_handlers::ports::Subscription;

    let sink = HttpSink::start().await;
    let p = Pipeline::start(Mode::Embedded).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("ok")}))
        .await;
    p.wait_for_rules(1).await;
    let backends = &p.running.as_ref().expect("running").backends;
    let embedded = backends.embedded_bus().expect("embedded");
    let mut matched_letters = embedded.tap("alerts.matched.dlq");
    let mut ready_letters = embedded.tap("notifications.ready.dlq");
    backends
        .bus("test")
        .expect("a bus")
        .publish(vec![
            OutgoingMessage::new("alerts.matched", "acme", b"\x00 not json".to_vec()),
            OutgoingMessage::new(
                "notifications.ready",
                "acme",
                br#"{"schema_version": 9}"#.to_vec(),
            ),
        ])
        .await
        .expect("published");
    p.send(json!({"alert_id": "after-poison", "severity": "LOW", "source": "s", "name": "n"}))
        .await;

    let delivered = sink.wait_for("ok", 1).await;
    assert_eq!(delivered[0].json()["alert"]["alert_id"], "after-poison");
    let letter = matched_letters.next_batch(1).await.expect("a dead letter");
    assert_eq!(letter[0].payload, b"\x00 not json");
    assert!(
        letter[0]
            .header("dlq-error")
            .is_some_and(|e| e.contains("alerts.matched")),
        "{letter:?}"
    );
    let letter = ready_letters.next_batch(1).await.expect("a dead letter");
    assert!(
        letter[0]
            .header("dlq-error")
            .is_some_and(|e| e.contains("schema_version 9")),
        "{letter:?}"
    );
}

on_both_modes!(
    every_channel_gets_each_notification_once,
    failing_sinks_are_retried_then_redriven,
);
