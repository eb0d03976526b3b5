//! Authentication, tenant isolation, API keys, and where deliveries may go.

use alerting::adapters::channels::Channels;
use alerting_entities::{api_keys, notifications};
use alerting_handlers::{
    domain::EndpointKind,
    http::alert_producer::AlertProducerSettings,
    ports::{Attempt, Channel, NotificationPayload, Target},
};
use alerting_test_support::{ADMIN_TOKEN, database::Backend, sinks::HttpSink};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{helpers::TestApp, on_both_backends};

/// Makes a key for `client_id` with `scopes`; returns (key_id, key).
async fn key(app: &TestApp, client_id: &str, scopes: &[&str]) -> (String, String) {
    let reply = app
        .post(
            &format!("/api/v1/clients/{client_id}/keys"),
            json!({"name": "test", "scopes": scopes}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    (reply.str("key_id"), reply.str("key"))
}

/// A notification row for `client_id`, as the aggregator would store it.
async fn notification(app: &TestApp, client_id: &str, rule_id: &str) -> String {
    let now = chrono::Utc::now();
    let id = uuid::Uuid::new_v4();
    notifications::Model {
        id,
        client_id: client_id.to_owned(),
        alert_id: format!("alert-of-{client_id}"),
        severity: "HIGH".to_owned(),
        source: "s".to_owned(),
        name: "n".to_owned(),
        context: json!({}),
        event_ts: now,
        rule_ids: json!([rule_id]),
        status: "FAILED".to_owned(),
        shared: true,
        created_at: now,
        updated_at: now,
        dedup_key: None,
        open_key: None,
        occurrences: 1,
        first_seen_at: Some(now),
        last_seen_at: Some(now),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolution_status: None,
        silenced_by: None,
        repeat_interval_seconds: None,
        auto_resolve_after_seconds: None,
        next_repeat_at: None,
        repeats: 0,
        repeat_status: None,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .expect("notification stored");
    id.to_string()
}

async fn no_token_is_401_on_every_api_route_and_the_operational_ones_stay_open(app: TestApp) {
    let anonymous = app.as_token(None);
    for (method, path) in [
        (Method::GET, "/api/v1/clients"),
        (Method::POST, "/api/v1/clients"),
        (Method::GET, "/api/v1/clients/acme"),
        (Method::GET, "/api/v1/rules"),
        (Method::GET, "/api/v1/notifications"),
        (Method::GET, "/api/v1/clients/acme/keys"),
        (
            Method::DELETE,
            "/api/v1/endpoints/00000000-0000-0000-0000-000000000000",
        ),
    ] {
        let reply = anonymous.send(method.clone(), path, Some(json!({}))).await;
        assert_eq!(reply.status, 401, "{method} {path}: {reply:?}");
        assert_eq!(reply.code(), "unauthorized");
        assert_eq!(
            reply.headers["www-authenticate"], "Bearer realm=\"alerting\"",
            "{method} {path}"
        );
    }
    let wrong = app.as_token(Some("alerting_admin_not-the-right-one-0123456789abcdef"));
    assert_eq!(wrong.get("/api/v1/clients").await.status, 401);
    for open in ["/health", "/ready", "/api/v1/openapi.json"] {
        assert_eq!(anonymous.get(open).await.status, 200, "{open}");
    }
    let metrics = reqwest::get(app.url("/metrics")).await.expect("metrics");
    assert_eq!(metrics.status(), 200);
}

async fn a_client_key_sees_only_its_own_tenant_and_the_rest_is_404(app: TestApp) {
    for client in ["acme", "globex"] {
        app.client(client).await;
    }
    let acme_rule = app.rule("acme", "HIGH", "db", "*").await["rule_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let globex_rule = app.rule("globex", "LOW", "web", "*").await["rule_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let globex_endpoint =
        app.endpoint(&globex_rule, "email", "ops@globex.test").await["endpoint_id"]
            .as_str()
            .expect("id")
            .to_owned();
    let globex_notification = notification(&app, "globex", &globex_rule).await;
    let acme_notification = notification(&app, "acme", &acme_rule).await;
    let (_, acme_key) = key(&app, "acme", &["manage"]).await;
    let acme = app.as_token(Some(&acme_key));

    // Its own: readable and writable.
    assert_eq!(acme.get("/api/v1/clients/acme").await.status, 200);
    assert_eq!(
        acme.patch("/api/v1/clients/acme", json!({"name": "Acme"}))
            .await
            .status,
        200
    );
    assert_eq!(
        acme.get(&format!("/api/v1/rules/{acme_rule}")).await.status,
        200
    );
    let created = acme
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "*", "source": "api", "name": "*"}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        acme.get(&format!("/api/v1/notifications/{acme_notification}"))
            .await
            .status,
        200
    );

    // Another tenant's: exactly like nothing there.
    let unknown = "00000000-0000-0000-0000-000000000000";
    for path in [
        "/api/v1/clients/globex".to_owned(),
        format!("/api/v1/rules/{globex_rule}"),
        format!("/api/v1/rules/{globex_rule}/endpoints"),
        format!("/api/v1/endpoints/{globex_endpoint}"),
        format!("/api/v1/notifications/{globex_notification}"),
    ] {
        let theirs = acme.get(&path).await;
        assert_eq!(theirs.status, 404, "{path}: {theirs:?}");
        assert_eq!(theirs.code(), "not_found");
    }
    let missing = acme.get(&format!("/api/v1/rules/{unknown}")).await;
    let theirs = acme.get(&format!("/api/v1/rules/{globex_rule}")).await;
    assert_eq!(
        (missing.status, missing.code()),
        (theirs.status, theirs.code()),
        "the same answer as for a rule that does not exist"
    );
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/api/v1/rules/{globex_rule}"),
            json!({"version": 1, "enabled": false}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/rules/{globex_rule}?version=1"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/rules/{globex_rule}/endpoints"),
            json!({"type": "email", "value": "x@acme.test"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/endpoints/{globex_endpoint}"),
            json!({"enabled": false}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/endpoints/{globex_endpoint}"),
            Value::Null,
        ),
        (
            Method::POST,
            "/api/v1/rules".to_owned(),
            json!({"client_id": "globex", "severity": "*", "source": "x", "name": "*"}),
        ),
        (
            Method::PATCH,
            "/api/v1/clients/globex".to_owned(),
            json!({"name": "mine now"}),
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let reply = acme.send(method.clone(), &path, body).await;
        assert_eq!(reply.status, 404, "{method} {path}: {reply:?}");
    }
    // A retry answers as for an unknown notification (here: no bus, 503, for both).
    let retry_theirs = acme
        .post(
            &format!("/api/v1/notifications/{globex_notification}/retry"),
            json!({}),
        )
        .await;
    let retry_unknown = acme
        .post(&format!("/api/v1/notifications/{unknown}/retry"), json!({}))
        .await;
    assert_eq!(
        (retry_theirs.status, retry_theirs.body.clone()),
        (retry_unknown.status, retry_unknown.body.clone())
    );
    // Nothing of globex's changed.
    let rule = app.get(&format!("/api/v1/rules/{globex_rule}")).await;
    assert_eq!(rule.body["enabled"], true);
    assert_eq!(rule.body["version"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/endpoints/{globex_endpoint}"))
            .await
            .body["enabled"],
        true
    );
    assert_eq!(
        app.get("/api/v1/clients/globex").await.body["name"],
        Value::Null
    );

    // Lists show its own only, whatever the filter asks.
    let clients = acme.get("/api/v1/clients").await;
    assert_eq!(clients.body["total"], 1);
    assert_eq!(clients.body["items"][0]["client_id"], "acme");
    let rules = acme.get("/api/v1/rules").await;
    assert_eq!(rules.body["total"], 2, "{rules:?}");
    assert!(
        rules.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|r| r["client_id"] == "acme")
    );
    assert_eq!(
        acme.get("/api/v1/rules?client_id=globex").await.body["total"],
        0
    );
    let notifications = acme.get("/api/v1/notifications").await;
    assert_eq!(notifications.body["total"], 1);
    assert_eq!(
        acme.get("/api/v1/notifications?client_id=globex")
            .await
            .body["total"],
        0
    );
    // The admin sees everyone.
    assert_eq!(app.get("/api/v1/rules").await.body["total"], 3);
}

async fn only_the_admin_manages_clients_and_keys(app: TestApp) {
    app.client("acme").await;
    let (acme_key_id, acme_key) = key(&app, "acme", &["manage", "ingest"]).await;
    let acme = app.as_token(Some(&acme_key));
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/clients",
            Some(json!({"client_id": "mine"})),
        ),
        (Method::DELETE, "/api/v1/clients/acme", None),
        (Method::POST, "/api/v1/clients/acme/keys", Some(json!({}))),
        (Method::GET, "/api/v1/clients/acme/keys", None),
    ] {
        let reply = acme.send(method.clone(), path, body).await;
        assert_eq!(reply.status, 403, "{method} {path}: {reply:?}");
        assert_eq!(reply.code(), "forbidden");
    }
    let revoke = acme
        .delete(&format!("/api/v1/clients/acme/keys/{acme_key_id}"))
        .await;
    assert_eq!(revoke.status, 403);
    assert_eq!(
        app.get("/api/v1/clients/acme").await.status,
        200,
        "not deleted"
    );

    // An ingest-only key reads nothing.
    let (_, producer_key) = key(&app, "acme", &["ingest"]).await;
    let producer = app.as_token(Some(&producer_key));
    for path in [
        "/api/v1/rules",
        "/api/v1/clients/acme",
        "/api/v1/notifications",
    ] {
        let reply = producer.get(path).await;
        assert_eq!(reply.status, 403, "{path}: {reply:?}");
    }

    // Bad key requests are 422 naming the field; unknown clients 404.
    let bad_scope = app
        .post("/api/v1/clients/acme/keys", json!({"scopes": ["root"]}))
        .await;
    assert_eq!((bad_scope.status, bad_scope.field()), (422, "scopes"));
    let no_scope = app
        .post("/api/v1/clients/acme/keys", json!({"scopes": []}))
        .await;
    assert_eq!((no_scope.status, no_scope.field()), (422, "scopes"));
    assert_eq!(
        app.post("/api/v1/clients/nobody/keys", json!({}))
            .await
            .status,
        404
    );
}

async fn a_revoked_key_is_401_and_keys_are_stored_hashed(app: TestApp) {
    app.client("acme").await;
    let (key_id, secret) = key(&app, "acme", &["manage"]).await;
    assert!(secret.starts_with("alerting_key_"), "{secret}");
    let acme = app.as_token(Some(&secret));
    assert_eq!(acme.get("/api/v1/rules").await.status, 200);

    // The table holds the key's SHA-256 and its first characters, never the key.
    let stored = api_keys::Entity::find().all(&app.db).await.expect("keys");
    assert_eq!(stored.len(), 1);
    let row = &stored[0];
    assert_eq!(row.key_hash, hex::encode(Sha256::digest(secret.as_bytes())));
    assert!(secret.starts_with(&row.key_prefix));
    assert!(row.key_prefix.len() < 20);
    let whole_row = format!("{row:?}");
    assert!(
        !whole_row.contains(&secret[row.key_prefix.len()..]),
        "{whole_row}"
    );

    // Listed without the secret.
    let listed = app.get("/api/v1/clients/acme/keys").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["total"], 1);
    let item = &listed.body["items"][0];
    assert_eq!(item["key_id"], key_id.as_str());
    assert_eq!(item["scopes"], json!(["manage"]));
    assert!(item.get("key").is_none(), "{item}");
    assert!(!listed.body.to_string().contains(&secret));

    let revoked = app
        .delete(&format!("/api/v1/clients/acme/keys/{key_id}"))
        .await;
    assert_eq!(revoked.status, 204);
    let refused = acme.get("/api/v1/rules").await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.code(), "unauthorized");
    let listed = app.get("/api/v1/clients/acme/keys").await;
    assert!(
        listed.body["items"][0]["revoked_at"].is_string(),
        "{listed:?}"
    );
    // Revoking again changes nothing; another client's path does not find it.
    assert_eq!(
        app.delete(&format!("/api/v1/clients/acme/keys/{key_id}"))
            .await
            .status,
        204
    );
    app.client("globex").await;
    assert_eq!(
        app.delete(&format!("/api/v1/clients/globex/keys/{key_id}"))
            .await
            .status,
        404
    );
}

async fn private_loopback_and_metadata_targets_are_refused_when_saved(app: TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "*", "*", "*").await["rule_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/rules/{rule}/endpoints");
    for (kind, url, says) in [
        ("webhook", "http://127.0.0.1:9000/hook", "loopback"),
        ("webhook", "http://localhost:9000/hook", "resolves to"),
        (
            "webhook",
            "http://169.254.169.254/latest/meta-data/",
            "metadata",
        ),
        ("webhook", "http://[fd00:ec2::254]/latest/", "fd00:ec2::254"),
        ("slack", "https://10.1.2.3/services/T/B/x", "private"),
        ("webhook", "http://192.168.0.10/hook", "private"),
        ("webhook", "http://[::1]:8080/hook", "loopback"),
    ] {
        let reply = app.post(&path, json!({"type": kind, "value": url})).await;
        assert_eq!(reply.status, 422, "{url}: {reply:?}");
        assert_eq!(reply.field(), "value", "{url}");
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{url}: {message}");
        assert!(message.contains("ALLOW_PRIVATE_ENDPOINTS"), "{message}");
    }
    // A public address is fine (no DNS needed for an address), and so is email.
    assert_eq!(
        app.post(
            &path,
            json!({"type": "webhook", "value": "https://8.8.8.8/hook"})
        )
        .await
        .status,
        201
    );
    let email = app
        .post(&path, json!({"type": "email", "value": "ops@acme.test"}))
        .await;
    assert_eq!(email.status, 201);
    // Changing an endpoint to a private address is refused too.
    let endpoint = email.str("endpoint_id");
    let moved = app
        .patch(
            &format!("/api/v1/endpoints/{endpoint}"),
            json!({"type": "webhook", "value": "http://169.254.169.254/"}),
        )
        .await;
    assert_eq!((moved.status, moved.field()), (422, "value"));
    let total = app.get(&path).await.body["total"].clone();
    assert_eq!(total, 2, "only the two public endpoints were saved");
}

on_both_backends!(
    no_token_is_401_on_every_api_route_and_the_operational_ones_stay_open,
    a_client_key_sees_only_its_own_tenant_and_the_rest_is_404,
    only_the_admin_manages_clients_and_keys,
    a_revoked_key_is_401_and_keys_are_stored_hashed,
);

#[tokio::test]
async fn private_targets_are_refused_when_saved_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        private_loopback_and_metadata_targets_are_refused_when_saved(
            TestApp::spawn_with(backend, false).await,
        )
        .await;
    }
}

#[tokio::test]
async fn private_targets_are_allowed_only_with_allow_private_endpoints() {
    let app = TestApp::spawn_with(Backend::Sqlite, true).await;
    app.client("acme").await;
    let rule = app.rule("acme", "*", "*", "*").await["rule_id"]
        .as_str()
        .expect("id")
        .to_owned();
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost:9000/hook",
        "http://169.254.169.254/latest/",
    ] {
        let reply = app
            .post(
                &format!("/api/v1/rules/{rule}/endpoints"),
                json!({"type": "webhook", "value": url}),
            )
            .await;
        assert_eq!(reply.status, 201, "{url}: {reply:?}");
    }
}

fn payload() -> NotificationPayload {
    NotificationPayload {
        notification_id: uuid::Uuid::new_v4(),
        client_id: "acme".to_owned(),
        shared: true,
        alert: alerting_handlers::events::AlertBody {
            owner: None,
            alert_id: "a1".to_owned(),
            event_ts: chrono::Utc::now(),
            severity: "HIGH".to_owned(),
            source: "db".to_owned(),
            name: "down".to_owned(),
            context: Default::default(),
            dedup_key: None,
            status: Default::default(),
        },
        rule_ids: vec![uuid::Uuid::new_v4()],
        repeat: None,
        created_at: chrono::Utc::now(),
        resolution: None,
    }
}

fn webhook(url: String) -> Target {
    Target {
        endpoint_id: uuid::Uuid::new_v4(),
        kind: EndpointKind::Webhook,
        value: url,
        secret: None,
    }
}

#[tokio::test]
async fn private_targets_are_refused_at_delivery_too() {
    // An endpoint saved earlier (or whose name now resolves elsewhere) that points at
    // this machine: the sender refuses it for good and never connects.
    let sink = HttpSink::start().await;
    let port = url::Url::parse(&sink.url("x"))
        .expect("url")
        .port()
        .expect("port");
    let config = crate::pipeline::fast_delivery(None);
    let strict = Channels::new(&config, false).expect("channels");
    for url in [
        format!("http://127.0.0.1:{port}/by-address"),
        format!("http://localhost:{port}/by-name"),
        format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
    ] {
        let attempt = strict.deliver(&payload(), &webhook(url.clone()), "k").await;
        match attempt {
            Attempt::Permanent { error, http_status } => {
                assert_eq!(http_status, None);
                assert!(
                    error.contains("loopback") && error.contains("ALLOW_PRIVATE_ENDPOINTS"),
                    "{url}: {error}"
                );
            }
            other => panic!("{url}: expected a refusal for good, got {other:?}"),
        }
    }
    assert!(sink.received("by-address").is_empty());
    assert!(sink.received("by-name").is_empty());
    assert!(sink.received("mapped").is_empty());

    let relaxed = Channels::new(&config, true).expect("channels");
    let attempt = relaxed
        .deliver(
            &payload(),
            &webhook(format!("http://localhost:{port}/by-name")),
            "k",
        )
        .await;
    assert!(
        matches!(attempt, Attempt::Delivered { .. }),
        "allowed with ALLOW_PRIVATE_ENDPOINTS: {attempt:?}"
    );
    assert_eq!(sink.received("by-name").len(), 1);
}

/// An alert-producer on an in-process bus, with `settings`.
async fn alert_producer(settings: AlertProducerSettings) -> String {
    crate::helpers::spawn_alert_producer(settings).await
}

#[tokio::test]
async fn ingestion_takes_the_ingest_scope_and_a_rate_per_key() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.client("acme").await;
    let (_, ingest_key) = key(&app, "acme", &["ingest"]).await;
    let (_, manage_key) = key(&app, "acme", &["manage"]).await;
    let producer = alert_producer(AlertProducerSettings {
        admin_token: ADMIN_TOKEN.to_owned(),
        keys: Some(app.db.clone()),
        ingest_rate_limit: 3,
        sns: None,
        backpressure: None,
    })
    .await;
    let http = alerting::http_client::client();
    let alert = json!({"severity": "HIGH", "source": "db", "name": "down"});
    let post = |token: Option<&str>| {
        let request = http.post(format!("{producer}/api/v1/alerts")).json(&alert);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    assert_eq!(post(None).send().await.expect("sent").status(), 401);
    assert_eq!(
        post(Some(&manage_key)).send().await.expect("sent").status(),
        403,
        "a manage key cannot post alerts"
    );
    for _ in 0..3 {
        assert_eq!(
            post(Some(&ingest_key)).send().await.expect("sent").status(),
            202
        );
    }
    let limited = post(Some(&ingest_key)).send().await.expect("sent");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Load generation is the operator's: an ingest key may not start a job.
    let job = http
        .post(format!("{producer}/api/v1/alerts/generate"))
        .bearer_auth(&ingest_key)
        .json(&json!({"count": 1_000_000}))
        .send()
        .await
        .expect("sent");
    assert_eq!(job.status(), 403);
    // The limit is per key: the admin token has its own.
    assert_eq!(
        post(Some(ADMIN_TOKEN)).send().await.expect("sent").status(),
        202
    );
    // An ingest key reads nothing on the rule-service.
    assert_eq!(
        app.as_token(Some(&ingest_key))
            .get("/api/v1/rules")
            .await
            .status,
        403
    );
}
