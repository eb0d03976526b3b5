//! Per-client quotas and the write rate of client keys: over a limit the answer names
//! the setting and nothing is written; the limits are per client, so one client at its
//! quota leaves the others alone.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::TestApp;

/// Quotas small enough to reach in a test.
fn small(settings: &mut alerting_handlers::http::rule_service::RuleServiceSettings) {
    settings.quotas = alerting_handlers::http::rule_service::Quotas {
        rules_per_client: 3,
        endpoints_per_rule: 2,
        endpoints_per_client: 3,
        keys_per_client: 2,
    };
    settings.write_rate_limit = 5;
}

fn assert_quota(reply: &crate::helpers::Reply, setting: &str) {
    assert_eq!(
        (
            reply.status,
            reply.code(),
            reply.body["error"]["limit"].as_str()
        ),
        (422, "quota_exceeded", Some(setting)),
        "{reply:?}"
    );
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(setting), "{message}");
}

async fn count(app: &TestApp, path: &str) -> u64 {
    let reply = app.get(path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["total"].as_u64().expect("total")
}

async fn rules_per_client(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    for source in ["a", "b", "c"] {
        app.rule("acme", "HIGH", source, "*").await;
    }
    let over = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "HIGH", "source": "d", "name": "*"}),
        )
        .await;
    assert_quota(&over, "MAX_RULES_PER_CLIENT");
    assert_eq!(count(&app, "/api/v1/rules?client_id=acme").await, 3);
    // Nothing half-written: no outbox row announces the refused rule.
    use sea_orm::{EntityTrait, PaginatorTrait};
    let announced = alerting_entities::outbox::Entity::find()
        .count(&app.db)
        .await
        .expect("outbox");
    assert_eq!(announced, 3);
    // Another client's quota is its own.
    app.rule("globex", "HIGH", "a", "*").await;
}

/// Concurrent creates of one client cannot both pass the count.
async fn concurrent_rules_stop_at_the_quota(app: TestApp) {
    app.client("acme").await;
    let replies = join_all((0..8).map(|n| {
        app.post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "LOW", "source": format!("s{n}"), "name": "*"}),
        )
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert!(
        replies
            .iter()
            .all(|r| r.status == 201 || r.code() == "quota_exceeded"),
        "{replies:?}"
    );
    assert_eq!(created, 3, "{replies:?}");
    assert_eq!(count(&app, "/api/v1/rules?client_id=acme").await, 3);
}

async fn endpoints_per_rule_and_per_client(app: TestApp) {
    app.client("acme").await;
    let first = app.rule("acme", "HIGH", "a", "*").await;
    let second = app.rule("acme", "HIGH", "b", "*").await;
    let rule = |r: &serde_json::Value| r["rule_id"].as_str().expect("id").to_owned();
    let (first, second) = (rule(&first), rule(&second));
    app.endpoint(&first, "email", "one@acme.test").await;
    app.endpoint(&first, "email", "two@acme.test").await;
    let over_rule = app
        .post(
            &format!("/api/v1/rules/{first}/endpoints"),
            json!({"type": "email", "value": "three@acme.test"}),
        )
        .await;
    assert_quota(&over_rule, "MAX_ENDPOINTS_PER_RULE");
    app.endpoint(&second, "email", "three@acme.test").await;
    let over_client = app
        .post(
            &format!("/api/v1/rules/{second}/endpoints"),
            json!({"type": "email", "value": "four@acme.test"}),
        )
        .await;
    assert_quota(&over_client, "MAX_ENDPOINTS_PER_CLIENT");
    assert_eq!(
        count(&app, &format!("/api/v1/rules/{first}/endpoints")).await
            + count(&app, &format!("/api/v1/rules/{second}/endpoints")).await,
        3
    );
    // An unknown rule is still a 404, not a quota.
    let unknown = app
        .post(
            &format!("/api/v1/rules/{}/endpoints", uuid::Uuid::new_v4()),
            json!({"type": "email", "value": "x@acme.test"}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
}

async fn keys_per_client_count_the_unrevoked(app: TestApp) {
    app.client("acme").await;
    async fn key(app: &TestApp) -> crate::helpers::Reply {
        app.post("/api/v1/clients/acme/keys", json!({"scopes": ["ingest"]}))
            .await
    }
    let first = key(&app).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(key(&app).await.status, 201);
    assert_quota(&key(&app).await, "MAX_KEYS_PER_CLIENT");
    let revoked = app
        .delete(&format!(
            "/api/v1/clients/acme/keys/{}",
            first.str("key_id")
        ))
        .await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    assert_eq!(key(&app).await.status, 201, "a revoked key frees its place");
}

/// A client key's writes are limited per second; its reads and the admin are not.
async fn a_client_keys_writes_are_rate_limited(app: TestApp) {
    app.client("acme").await;
    let key = app
        .post("/api/v1/clients/acme/keys", json!({"scopes": ["manage"]}))
        .await
        .str("key");
    let client = app.as_token(Some(&key));
    let mut statuses = Vec::new();
    let mut limited = None;
    for n in 0..6 {
        let reply = client
            .post(
                "/api/v1/rules",
                json!({"client_id": "acme", "severity": "LOW", "source": format!("w{n}"), "name": "*"}),
            )
            .await;
        statuses.push(reply.status);
        if reply.status == 429 {
            limited = Some(reply);
        }
    }
    let limited = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(
        limited.body["error"]["limit"].as_str(),
        Some("WRITE_RATE_LIMIT"),
        "{limited:?}"
    );
    assert!(limited.headers.contains_key("retry-after"), "{limited:?}");
    // Reads are not writes, and the admin token is not limited.
    for _ in 0..10 {
        assert_eq!(client.get("/api/v1/rules").await.status, 200);
    }
    for n in 0..10 {
        let reply = app
            .post("/api/v1/clients", json!({"client_id": format!("c{n}")}))
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
    }
}

crate::on_both_backends!(
    configured by super::small;
    rules_per_client,
    concurrent_rules_stop_at_the_quota,
    endpoints_per_rule_and_per_client,
    keys_per_client_count_the_unrevoked,
    a_client_keys_writes_are_rate_limited,
);
