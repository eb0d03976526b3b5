//! Tenants kept apart on the matching path: an alert posted with a client's own ingest
//! key is that client's alone (another client's catch-all rule never sees it, and
//! nothing another client posts can pre-empt it), while the shared feed (the admin
//! token, or a key the admin marked shared) is matched against every client's rules.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, Pipeline};

/// A client with a catch-all rule, and an ingest key (shared or not); returns the
/// rule's id and the key.
pub(super) async fn tenant(p: &Pipeline, client: &str, shared: bool) -> (String, String) {
    p.client(client).await;
    let rule = p.rule(client, "*", "*", "*").await;
    let key = p
        .api(
            Method::POST,
            &format!("/api/v1/clients/{client}/keys"),
            Some(json!({"scopes": ["ingest"], "shared": shared})),
        )
        .await;
    assert_eq!(key["shared"], shared, "{key}");
    (rule, key["key"].as_str().expect("key").to_owned())
}

/// Posts alerts with `key`; returns the answer.
pub(super) async fn post_as(p: &Pipeline, key: &str, alerts: Value) -> Value {
    let (status, body) = p
        .call_as(
            Some(key),
            Method::POST,
            format!("{}/api/v1/alerts", p.alert_producer),
            Some(alerts),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body
}

/// The one notification of `client` for `alert_id`, once stored.
async fn notification(p: &Pipeline, client: &str, alert_id: &str) -> Value {
    let path = format!("/api/v1/notifications?client_id={client}&alert_id={alert_id}");
    let found = tokio::time::timeout(super::PATIENCE, async {
        loop {
            let list = p.api(Method::GET, &path, None).await;
            if let Some(item) = list["items"].as_array().and_then(|items| items.first()) {
                return item.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no notification of {alert_id} for {client}"))
}

/// Finding 1: a catch-all rule of another client sees nothing of a client's own alerts.
async fn a_catch_all_rule_sees_nothing_of_another_clients_alerts(mode: Mode) {
    let mut p = Pipeline::start(mode).await;
    let (_, victim) = tenant(&p, "victim", false).await;
    tenant(&p, "mallory", false).await;
    p.wait_for_rules(2).await;

    let answer = post_as(
        &p,
        &victim,
        json!({"alert_id": "v-1", "severity": "CRITICAL", "source": "payments", "name": "card-data", "context": {"pan": "4111"}}),
    )
    .await;
    assert_eq!(answer["shared"], false, "{answer}");
    let matches = p.matches(1).await;
    assert_eq!(
        (
            matches[0].client_id.as_str(),
            matches[0].alert.alert_id.as_str()
        ),
        ("victim", "v-1")
    );
    assert_eq!(matches[0].alert.owner.as_deref(), Some("victim"));
    p.assert_no_other_matches(1).await;

    let stored = notification(&p, "victim", "v-1").await;
    assert_eq!(stored["shared"], false, "{stored}");
    let mallory = p
        .api(Method::GET, "/api/v1/notifications?client_id=mallory", None)
        .await;
    assert!(
        mallory["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|n| n["alert_id"] != "v-1")),
        "mallory saw the victim's alert: {mallory}"
    );
}

/// Finding 2: a client posting another's next alert id first neither pre-empts nor
/// suppresses it: each client's alert ids are its own.
async fn another_client_cannot_pre_empt_an_alert_id(mode: Mode) {
    let mut p = Pipeline::start(mode).await;
    let (_, victim) = tenant(&p, "victim", false).await;
    let (_, mallory) = tenant(&p, "mallory", false).await;
    p.wait_for_rules(2).await;

    post_as(
        &p,
        &mallory,
        json!({"alert_id": "next", "severity": "LOW", "source": "payments", "name": "all-clear"}),
    )
    .await;
    let first = p.matches(1).await;
    assert_eq!(first[0].client_id, "mallory", "{first:?}");
    post_as(
        &p,
        &victim,
        json!({"alert_id": "next", "severity": "CRITICAL", "source": "payments", "name": "outage"}),
    )
    .await;
    let second = p.matches(1).await;
    assert_eq!(second[0].client_id, "victim", "{second:?}");

    let stored = notification(&p, "victim", "next").await;
    assert_eq!(
        (
            stored["alert"]["severity"].as_str(),
            stored["alert"]["name"].as_str()
        ),
        (Some("CRITICAL"), Some("outage")),
        "the victim's own alert was pre-empted: {stored}"
    );
    let theirs = notification(&p, "mallory", "next").await;
    assert_eq!(theirs["alert"]["severity"], "LOW", "{theirs}");
}

/// The shared feed, posted with the admin token or a shared key, reaches every
/// client's rules, and its notifications say so.
async fn the_shared_feed_reaches_every_client(mode: Mode) {
    let mut p = Pipeline::start(mode).await;
    tenant(&p, "acme", false).await;
    tenant(&p, "globex", false).await;
    let (_, feed) = tenant(&p, "upstream", true).await;
    p.wait_for_rules(3).await;

    let answer = post_as(
        &p,
        &feed,
        json!({"alert_id": "f-1", "severity": "HIGH", "source": "db", "name": "down"}),
    )
    .await;
    assert_eq!(answer["shared"], true, "{answer}");
    p.send(json!({"alert_id": "f-2", "severity": "HIGH", "source": "db", "name": "down"}))
        .await;
    let mut seen: Vec<(String, String)> = p
        .matches(6)
        .await
        .into_iter()
        .map(|m| {
            assert_eq!(m.alert.owner, None, "{m:?}");
            (m.alert.alert_id, m.client_id)
        })
        .collect();
    seen.sort();
    let mut expected = Vec::new();
    for alert in ["f-1", "f-2"] {
        for client in ["acme", "globex", "upstream"] {
            expected.push((alert.to_owned(), client.to_owned()));
        }
    }
    assert_eq!(seen, expected);
    let stored = notification(&p, "globex", "f-1").await;
    assert_eq!(stored["shared"], true, "{stored}");

    // A shared key posts to the feed and does nothing else.
    let (status, body) = p
        .call(
            Method::POST,
            format!("{}/api/v1/clients/upstream/keys", p.rule_service),
            Some(json!({"scopes": ["ingest", "manage"], "shared": true})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("shared")),
        "{body}"
    );
}

/// Finding 4: one notification reaches at most MAX_DELIVERIES_PER_NOTIFICATION
/// addresses (the oldest endpoints); the rest are recorded as failed, never tried.
async fn a_notification_reaches_at_most_the_delivery_cap(mode: Mode) {
    let sink = alerting_test_support::sinks::HttpSink::start().await;
    let delivery = alerting::config::DeliveryConfig {
        max_deliveries_per_notification: 2,
        ..super::fast_delivery(None)
    };
    let p = Pipeline::start_with(mode, delivery).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    let mut endpoints = Vec::new();
    for path in ["first", "second", "third"] {
        endpoints.push(
            p.endpoint(&rule, json!({"type": "webhook", "value": sink.url(path)}))
                .await,
        );
    }
    p.wait_for_rules(1).await;
    p.send(json!({"alert_id": "wide", "severity": "HIGH", "source": "db", "name": "down"}))
        .await;
    let settled = p.settled_notifications("acme", 1).await;
    assert_eq!(settled[0]["status"], "PARTIAL", "{settled:?}");
    let id = settled[0]["notification_id"].as_str().expect("id");
    for path in ["first", "second"] {
        assert_eq!(sink.received(path).len(), 1, "{path}");
    }
    assert!(sink.received("third").is_empty(), "the third was tried");
    let over = p.delivery(id, &endpoints[2]).await;
    assert_eq!(over["status"], "FAILED", "{over}");
    assert_eq!(over["attempts"], 0, "{over}");
    assert!(
        over["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("MAX_DELIVERIES_PER_NOTIFICATION")),
        "{over}"
    );
}

on_both_modes!(
    a_notification_reaches_at_most_the_delivery_cap,
    a_catch_all_rule_sees_nothing_of_another_clients_alerts,
    another_client_cannot_pre_empt_an_alert_id,
    the_shared_feed_reaches_every_client,
);
