//! What every route shares: JSON errors, body limits, content types, unknown routes,
//! health and readiness.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

async fn malformed_json_is_400(app: TestApp) {
    for body in [
        "{",
        "{\"client_id\": }",
        "not json",
        "{\"client_id\":\"x\"} {\"b\":2}",
        "",
    ] {
        let reply = app
            .send_raw(
                Method::POST,
                "/api/v1/clients",
                Some("application/json"),
                body,
            )
            .await;
        assert_eq!(reply.status, 400, "{body:?}: {reply:?}");
        assert_eq!(reply.code(), "malformed_json");
        assert!(reply.body["error"]["message"].is_string());
    }
    let reply = app
        .send_raw(
            Method::PATCH,
            "/api/v1/clients/acme",
            Some("application/json"),
            "[",
        )
        .await;
    assert_eq!(reply.status, 400, "checked before the lookup: {reply:?}");
}

async fn bodies_over_one_mebibyte_are_413(app: TestApp) {
    let name = "x".repeat(1024 * 1024);
    let body = json!({"client_id": "big", "name": name}).to_string();
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/json"),
            body,
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (413, "payload_too_large"),
        "{reply:?}"
    );
    assert_eq!(app.get("/api/v1/clients/big").await.status, 404);

    // Just under the limit is parsed (and refused for its field, not its size).
    let name = "x".repeat(1024 * 1024 - 64);
    let body = json!({"client_id": "big", "name": name}).to_string();
    assert!(body.len() <= 1024 * 1024);
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/json"),
            body,
        )
        .await;
    assert_eq!(
        (reply.status, reply.field()),
        (422, "name"),
        "{:?}",
        reply.status
    );
}

async fn non_json_content_types_are_415(app: TestApp) {
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/x-www-form-urlencoded"),
            "client_id=acme",
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (415, "unsupported_media_type")
    );
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            None,
            r#"{"client_id": "acme"}"#,
        )
        .await;
    assert_eq!(
        reply.status, 201,
        "a JSON body without a content type is taken: {reply:?}"
    );
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/json; charset=utf-8"),
            r#"{"client_id": "acme2"}"#,
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
}

async fn unknown_routes_and_methods_answer_json(app: TestApp) {
    let reply = app.get("/api/v1/nothing-here").await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"));
    let reply = app
        .send(Method::PUT, "/api/v1/clients", Some(json!({})))
        .await;
    assert_eq!((reply.status, reply.code()), (405, "method_not_allowed"));
}

async fn health_and_readiness(app: TestApp) {
    let health = app.get("/health").await;
    assert_eq!(
        (health.status, health.body.clone()),
        (200, json!({"status": "ok"}))
    );
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.body,
        json!({"status": "ready", "checks": {"database": "ok"}})
    );

    // With the database gone, the process is alive but not ready.
    app.db.clone().close().await.expect("close pool");
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.body["status"], "not_ready");
    assert_ne!(ready.body["checks"]["database"], "ok");
    assert_eq!(app.get("/health").await.status, 200);
    let reply = app.get("/api/v1/clients").await;
    assert!(reply.status >= 500, "{reply:?}");
    assert!(reply.body["error"]["code"].is_string());
}

async fn hostile_and_odd_input_gets_4xx_and_changes_nothing(app: TestApp) {
    app.client("acme").await;
    let before = app.get("/api/v1/rules").await.body["total"].clone();
    let refused = [
        json!({"client_id": "acme'; DROP TABLE rules; --", "severity": "LOW", "source": "s", "name": "n"}),
        json!({"client_id": "acme", "severity": "LOW' OR '1'='1", "source": "s", "name": "n"}),
        json!({"client_id": "acme", "severity": "LOW", "source": "s\u{0}", "name": "n"}),
        json!({"client_id": "acme", "severity": "LOW", "source": "a\u{202e}b\u{7}", "name": "n"}),
        json!({"client_id": "acme", "severity": "LOW", "source": "💳".repeat(256), "name": "n"}),
        json!({"client_id": "acme", "severity": "LOW", "source": "s", "name": {"$ne": null}}),
        json!({"client_id": "acme", "severity": "LOW", "source": "s", "name": "n", "enabled": "true"}),
        json!({"client_id": ["acme"], "severity": "LOW", "source": "s", "name": "n"}),
        json!({"client_id": "acme", "severity": 1e308, "source": "s", "name": "n"}),
    ];
    for body in refused {
        let text = body.to_string();
        let reply = app
            .send_raw(
                Method::POST,
                "/api/v1/rules",
                Some("application/json"),
                text.clone(),
            )
            .await;
        assert!((400..500).contains(&reply.status), "{text}: {reply:?}");
        assert!(reply.body["error"]["code"].is_string(), "{reply:?}");
    }
    // Broken unicode in JSON is malformed JSON.
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/json"),
            r#"{"client_id": "\ud800"}"#,
        )
        .await;
    assert!((400..500).contains(&reply.status), "{reply:?}");
    let reply = app
        .send_raw(
            Method::POST,
            "/api/v1/clients",
            Some("application/json"),
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        )
        .await;
    assert_eq!(reply.status, 400, "invalid UTF-8: {reply:?}");
    assert_eq!(
        app.get("/api/v1/rules").await.body["total"],
        before,
        "nothing was created"
    );

    // Injection-looking or exotic text that is valid is stored as text, nothing more.
    for source in [
        "'; DROP TABLE rules; --",
        "Robert'); DELETE FROM clients;--",
        "e\u{301}t\u{e9} 👩‍💻 עברית",
    ] {
        let text = json!({"client_id": "acme", "severity": "LOW", "source": source, "name": "*"})
            .to_string();
        let reply = app
            .send_raw(
                Method::POST,
                "/api/v1/rules",
                Some("application/json"),
                text,
            )
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
        let id = reply.str("rule_id");
        let read = app.get(&format!("/api/v1/rules/{id}")).await;
        assert_eq!(read.body["source"], reply.body["source"]);
    }
    assert_eq!(
        app.get("/api/v1/clients/acme").await.status,
        200,
        "the tables are intact"
    );
}

crate::on_both_backends!(
    hostile_and_odd_input_gets_4xx_and_changes_nothing,
    malformed_json_is_400,
    bodies_over_one_mebibyte_are_413,
    non_json_content_types_are_415,
    unknown_routes_and_methods_answer_json,
    health_and_readiness,
);
