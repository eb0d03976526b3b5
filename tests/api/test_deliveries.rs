//! `POST /api/v1/endpoints/{id}/test`: a test delivery through the real channels to a
//! loopback receiver, and to a port nobody listens on.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The rule-service with the delivery channels, as services start it.
fn with_channels(settings: &mut alerting_handlers::http::rule_service::RuleServiceSettings) {
    let delivery = crate::pipeline::fast_delivery(None);
    let channels = alerting::adapters::channels::Channels::new(&delivery, true).expect("channels");
    settings.channel = Some(std::sync::Arc::new(channels));
}

/// A test delivery goes to the endpoint now, signed like a real one, and says how it
/// went; nothing is stored; another client's endpoint is as unknown as a missing one.
async fn a_test_delivery_says_what_the_receiver_answered(app: TestApp) {
    let sink = alerting_test_support::sinks::HttpSink::start().await;
    app.client("acme").await;
    let rule = app.rule("acme", "*", "*", "*").await;
    let rule = rule["rule_id"].as_str().expect("rule_id").to_owned();
    let good = app
        .post(
            &format!("/api/v1/rules/{rule}/endpoints"),
            json!({"type": "webhook", "value": sink.url("hook"), "secret": "test-secret-0123456789"}),
        )
        .await
        .body;
    let down = app
        .endpoint(&rule, "webhook", "http://127.0.0.1:9/nobody")
        .await;
    let test = |endpoint: &Value| {
        format!(
            "/api/v1/endpoints/{}/test",
            endpoint["endpoint_id"].as_str().expect("id")
        )
    };

    let reply = app.post(&test(&good), json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (&reply.body["delivered"], &reply.body["http_status"]),
        (&json!(true), &json!(200)),
        "{reply:?}"
    );
    let received = sink.received("hook");
    assert_eq!(received.len(), 1);
    let body = received[0].json();
    assert_eq!(body["alert"]["name"], "Test delivery");
    assert_eq!(body["alert"]["alert_id"], reply.body["alert_id"]);
    assert!(
        received[0].header("x-alerting-signature").is_some(),
        "signed"
    );

    let reply = app.post(&test(&down), json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["delivered"], false);
    assert!(
        reply.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection")),
        "{reply:?}"
    );
    assert_eq!(reply.body["retryable"], true);
    let stored = app.get("/api/v1/notifications?client_id=acme").await;
    assert_eq!(stored.body["total"], 0, "a test is no notification");

    app.client("other").await;
    let other = app.key("other", "other", &["manage"]).await;
    let reply = app
        .as_token(Some(&other))
        .post(&test(&good), json!({}))
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(
        sink.received("hook").len(),
        1,
        "nothing sent for another client"
    );
}

crate::on_both_backends!(configured by super::with_channels; a_test_delivery_says_what_the_receiver_answered);
