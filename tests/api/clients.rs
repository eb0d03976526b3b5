//! The rule-service's clients: created with or without an id, validated, listed
//! newest first, renamed, and deleted with their rules (each deletion announced).

use serde_json::json;

use crate::helpers::TestApp;

async fn create_with_and_without_an_id(app: TestApp) {
    let named = app
        .post(
            "/api/v1/clients",
            json!({"client_id": "acme.eu_1-x", "name": "Acme Europe"}),
        )
        .await;
    assert_eq!(named.status, 201, "{named:?}");
    assert_eq!(named.body["client_id"], "acme.eu_1-x");
    assert_eq!(named.body["name"], "Acme Europe");
    assert_eq!(named.headers["location"], "/api/v1/clients/acme.eu_1-x");

    let generated = app.post("/api/v1/clients", json!({})).await;
    assert_eq!(generated.status, 201, "{generated:?}");
    let id = generated.str("client_id");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} is a UUID");
    assert_eq!(generated.body["name"], serde_json::Value::Null);

    let fetched = app.get(&format!("/api/v1/clients/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, generated.body);

    // The longest id allowed, and the shortest.
    for edge in ["x".repeat(64), "x".to_owned()] {
        let reply = app
            .post("/api/v1/clients", json!({"client_id": edge}))
            .await;
        assert_eq!(reply.status, 201, "{} chars: {reply:?}", edge.len());
    }
}

async fn invalid_client_ids_and_names_are_422_naming_the_field(app: TestApp) {
    for bad in ["", "has space", "slash/es", &"x".repeat(65), "ünïcode"] {
        let reply = app.post("/api/v1/clients", json!({"client_id": bad})).await;
        assert_eq!(reply.status, 422, "{bad:?}: {reply:?}");
        assert_eq!(reply.code(), "validation_failed");
        assert_eq!(reply.field(), "client_id");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("client_id")
        );
    }
    let reply = app.post("/api/v1/clients", json!({"client_id": 42})).await;
    assert_eq!((reply.status, reply.field()), (422, "client_id"));
    let reply = app.post("/api/v1/clients", json!({"name": ""})).await;
    assert_eq!((reply.status, reply.field()), (422, "name"));
    let reply = app
        .post("/api/v1/clients", json!({"name": "a\u{0000}b"}))
        .await;
    assert_eq!((reply.status, reply.field()), (422, "name"));
    let reply = app.post("/api/v1/clients", json!({"nmae": "typo"})).await;
    assert_eq!((reply.status, reply.field()), (422, "nmae"));

    let list = app.get("/api/v1/clients").await;
    assert_eq!(list.body["total"], 0, "nothing was created: {list:?}");
}

async fn a_duplicate_client_id_is_409(app: TestApp) {
    app.client("acme").await;
    let reply = app
        .post("/api/v1/clients", json!({"client_id": "acme"}))
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.code(), "duplicate");
}

async fn unknown_clients_are_404(app: TestApp) {
    for reply in [
        app.get("/api/v1/clients/ghost").await,
        app.patch("/api/v1/clients/ghost", json!({"name": "x"}))
            .await,
        app.delete("/api/v1/clients/ghost").await,
    ] {
        assert_eq!(reply.status, 404, "{reply:?}");
        assert_eq!(reply.code(), "not_found");
    }
}

async fn lists_are_newest_first_and_paginated(app: TestApp) {
    let empty = app.get("/api/v1/clients").await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.body,
        json!({"items": [], "total": 0, "limit": 50, "offset": 0})
    );

    for id in ["c1", "c2", "c3", "c4", "c5"] {
        app.client(id).await;
    }
    let all = app.get("/api/v1/clients").await;
    let ids: Vec<_> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["client_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["c5", "c4", "c3", "c2", "c1"]);

    let page = app.get("/api/v1/clients?limit=2&offset=1").await;
    assert_eq!(page.body["total"], 5);
    assert_eq!(page.body["limit"], 2);
    assert_eq!(page.body["offset"], 1);
    let ids: Vec<_> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["client_id"].clone())
        .collect();
    assert_eq!(ids, [json!("c4"), json!("c3")]);

    let past_the_end = app.get("/api/v1/clients?offset=10").await;
    assert_eq!(past_the_end.body["items"], json!([]));
    assert_eq!(past_the_end.body["total"], 5);

    for bad in ["limit=0", "limit=201", "limit=ten", "offset=-1", "page=2"] {
        let reply = app.get(&format!("/api/v1/clients?{bad}")).await;
        assert_eq!(reply.status, 422, "{bad}: {reply:?}");
        let field = bad.split('=').next().unwrap_or_default();
        assert_eq!(reply.field(), field, "{bad}");
    }
    let max = app.get("/api/v1/clients?limit=200").await;
    assert_eq!(max.status, 200);
}

async fn patch_changes_and_clears_the_name(app: TestApp) {
    app.client("acme").await;
    let renamed = app
        .patch("/api/v1/clients/acme", json!({"name": "Acme Inc"}))
        .await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert_eq!(renamed.body["name"], "Acme Inc");

    let untouched = app.patch("/api/v1/clients/acme", json!({})).await;
    assert_eq!(untouched.body["name"], "Acme Inc");

    let cleared = app
        .patch("/api/v1/clients/acme", json!({"name": null}))
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["name"], serde_json::Value::Null);

    let refused = app
        .patch("/api/v1/clients/acme", json!({"client_id": "other"}))
        .await;
    assert_eq!((refused.status, refused.field()), (422, "client_id"));
}

async fn deleting_a_client_deletes_its_rules_and_announces_them(app: TestApp) {
    app.client("acme").await;
    app.client("other").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    let kept = app.rule("other", "HIGH", "payments", "*").await;
    let rule_id = rule["rule_id"].as_str().unwrap_or_default();
    app.endpoint(rule_id, "email", "ops@example.com").await;

    let deleted = app.delete("/api/v1/clients/acme").await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, serde_json::Value::Null);
    assert_eq!(app.get("/api/v1/clients/acme").await.status, 404);
    assert_eq!(
        app.get(&format!("/api/v1/rules/{rule_id}")).await.status,
        404
    );
    let kept_id = kept["rule_id"].as_str().unwrap_or_default();
    assert_eq!(
        app.get(&format!("/api/v1/rules/{kept_id}")).await.status,
        200
    );

    let events = crate::rules::outbox_events(&app, rule_id).await;
    assert_eq!(
        events,
        [("CREATED".to_owned(), 1), ("DELETED".to_owned(), 2)]
    );
}

async fn a_label_mapping_is_set_kept_and_reset(app: TestApp) {
    let defaults =
        json!({"severity": ["severity"], "source": ["job", "source"], "name": ["alertname"]});
    let created = app
        .post("/api/v1/clients", json!({"client_id": "acme"}))
        .await;
    assert_eq!(created.body["label_mapping"], defaults, "{created:?}");

    let patched = app
        .patch(
            "/api/v1/clients/acme",
            json!({"label_mapping": {"severity": ["priority", "severity"], "source": ["service"]}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let mapped =
        json!({"severity": ["priority", "severity"], "source": ["service"], "name": ["alertname"]});
    assert_eq!(patched.body["label_mapping"], mapped);
    assert_eq!(
        app.get("/api/v1/clients/acme").await.body["label_mapping"],
        mapped
    );
    // A rename leaves it alone; null restores the defaults.
    let renamed = app
        .patch("/api/v1/clients/acme", json!({"name": "Acme"}))
        .await;
    assert_eq!(renamed.body["label_mapping"], mapped);
    let reset = app
        .patch("/api/v1/clients/acme", json!({"label_mapping": null}))
        .await;
    assert_eq!(reset.body["label_mapping"], defaults);

    for (mapping, field) in [
        (json!({"severity": []}), "label_mapping.severity"),
        (json!({"name": ["has-dash"]}), "label_mapping.name"),
        (json!({"source": "job"}), "label_mapping.source"),
        (json!({"sevrity": ["x"]}), "label_mapping.sevrity"),
    ] {
        let reply = app
            .post(
                "/api/v1/clients",
                json!({"client_id": "bad", "label_mapping": mapping}),
            )
            .await;
        assert_eq!(
            (reply.status, reply.field()),
            (422, field),
            "{mapping}: {reply:?}"
        );
    }
    assert_eq!(
        app.get("/api/v1/clients/bad").await.status,
        404,
        "nothing stored"
    );
}

crate::on_both_backends!(
    a_label_mapping_is_set_kept_and_reset,
    create_with_and_without_an_id,
    invalid_client_ids_and_names_are_422_naming_the_field,
    a_duplicate_client_id_is_409,
    unknown_clients_are_404,
    lists_are_newest_first_and_paginated,
    patch_changes_and_clears_the_name,
    deleting_a_client_deletes_its_rules_and_announces_them,
);
