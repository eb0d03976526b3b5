//! A key repeated in a JSON object is refused by both services, as a 422 naming it,
//! wherever it is: a struct's field, a map's key, one alert of a batch.

use alerting_handlers::http::alert_producer::AlertProducerSettings;
use alerting_test_support::ADMIN_TOKEN;
use reqwest::Method;

use crate::{
    helpers::{TestApp, spawn_alert_producer},
    on_both_backends,
};

/// Posts `body` as it is written (a JSON library would keep one of the two keys).
async fn post_raw(url: &str, body: &'static str) -> (u16, serde_json::Value) {
    let response = alerting::http_client::client()
        .post(url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

fn field(body: &serde_json::Value) -> &str {
    body["error"]["field"].as_str().unwrap_or_default()
}

async fn the_rule_service_names_a_repeated_key(app: TestApp) {
    let client = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/json"),
            r#"{"client_id": "acme", "client_id": "globex"}"#,
        )
        .await;
    assert_eq!(
        (client.status, client.field()),
        (422, "client_id"),
        "{client:?}"
    );
    assert_eq!(app.get("/api/v1/clients").await.body["total"], 0);
    app.client("acme").await;
    let rule = app
        .send_raw(
            Method::POST,
            "/api/v1/rules",
            Some("application/json"),
            r#"{"client_id": "acme", "severity": "LOW", "source": "db", "name": "*", "severity": "HIGH"}"#,
        )
        .await;
    assert_eq!((rule.status, rule.field()), (422, "severity"), "{rule:?}");
}

on_both_backends!(the_rule_service_names_a_repeated_key);

#[tokio::test]
async fn the_alert_producer_names_a_repeated_key_in_an_alert_its_context_or_a_job() {
    let producer = spawn_alert_producer(AlertProducerSettings {
        admin_token: ADMIN_TOKEN.to_owned(),
        keys: None,
        ingest_rate_limit: 0,
        sns: None,
        backpressure: None,
    })
    .await;
    let alerts = format!("{producer}/api/v1/alerts");
    for (body, named) in [
        (
            r#"{"severity": "LOW", "source": "db", "name": "down", "severity": "CRITICAL"}"#,
            "severity",
        ),
        (
            r#"{"severity": "LOW", "source": "db", "name": "down", "context": {"region": "eu", "region": "us"}}"#,
            "context.region",
        ),
        (
            r#"[{"severity": "LOW", "source": "db", "name": "a"}, {"severity": "LOW", "source": "db", "name": "b", "name": "c"}]"#,
            "[1].name",
        ),
    ] {
        let (status, answer) = post_raw(&alerts, body).await;
        assert_eq!((status, field(&answer)), (422, named), "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
    }
    let (status, answer) = post_raw(
        &format!("{producer}/api/v1/alerts/generate"),
        r#"{"count": 1, "severities": {"HIGH": 1, "HIGH": 0}}"#,
    )
    .await;
    assert_eq!(
        (status, field(&answer)),
        (422, "severities.HIGH"),
        "{answer}"
    );
    // The same keys in different objects are no repetition.
    let (status, answer) = post_raw(
        &alerts,
        r#"[{"severity": "LOW", "source": "db", "name": "a"}, {"severity": "LOW", "source": "db", "name": "b"}]"#,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
}
