//! The rule-service's rules: created normalised and with defaults, validated, refused
//! when they repeat another, changed only at their current version (of two concurrent
//! writes, one wins), listed with filters, and every write recorded in the outbox.

use alerting_entities::outbox;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The (action, version) of every outbox row of a rule, oldest first.
pub async fn outbox_events(app: &TestApp, rule_id: &str) -> Vec<(String, i32)> {
    let rule_id = uuid::Uuid::parse_str(rule_id).expect("rule id");
    outbox::Entity::find()
        .filter(outbox::Column::RuleId.eq(rule_id))
        .order_by_asc(outbox::Column::Id)
        .all(&app.db)
        .await
        .expect("outbox rows")
        .into_iter()
        .map(|row| {
            assert!(row.published_at.is_none(), "nothing publishes yet");
            (row.action, row.version)
        })
        .collect()
}

fn id(rule: &Value) -> String {
    rule["rule_id"].as_str().expect("rule_id").to_owned()
}

async fn create_normalises_and_defaults(app: TestApp) {
    app.client("acme").await;
    let reply = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "high", "source": "payments", "name": "*"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let rule = &reply.body;
    assert_eq!(rule["severity"], "HIGH");
    assert_eq!(rule["source"], "payments");
    assert_eq!(rule["name"], "*");
    assert_eq!(rule["enabled"], true);
    assert_eq!(rule["version"], 1);
    assert_eq!(rule["client_id"], "acme");
    assert_eq!(
        reply.headers["location"],
        format!("/api/v1/rules/{}", id(rule)).as_str()
    );
    assert_eq!(
        app.get(&format!("/api/v1/rules/{}", id(rule))).await.body,
        *rule
    );

    let wildcard = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "*", "source": "*", "name": "*", "enabled": false}),
        )
        .await;
    assert_eq!(wildcard.status, 201);
    assert_eq!(wildcard.body["severity"], "*");
    assert_eq!(wildcard.body["enabled"], false);

    let unicode = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "Critical", "source": "支付-💳", "name": "é".repeat(255)}),
        )
        .await;
    assert_eq!(unicode.status, 201, "{unicode:?}");
    assert_eq!(unicode.body["source"], "支付-💳");
}

async fn invalid_fields_are_422_naming_the_field(app: TestApp) {
    app.client("acme").await;
    let valid = json!({"client_id": "acme", "severity": "LOW", "source": "s", "name": "n"});
    let cases: Vec<(&str, Value)> = vec![
        ("severity", json!("SEVERE")),
        ("severity", json!("")),
        ("severity", json!(3)),
        ("source", json!("")),
        ("source", json!("x".repeat(256))),
        ("source", json!(" padded")),
        ("source", json!(null)),
        ("name", json!("line\nbreak")),
        ("name", json!(["a"])),
        ("client_id", json!("bad id")),
        ("enabled", json!("yes")),
    ];
    for (field, value) in cases {
        let mut body = valid.clone();
        body[field] = value.clone();
        let reply = app.post("/api/v1/rules", body).await;
        assert_eq!(reply.status, 422, "{field}={value}: {reply:?}");
        assert_eq!(reply.field(), field, "{field}={value}: {reply:?}");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "message names {field}: {reply:?}"
        );
    }
    for missing in ["client_id", "severity", "source", "name"] {
        let mut body = valid.clone();
        body.as_object_mut().expect("object").remove(missing);
        let reply = app.post("/api/v1/rules", body).await;
        assert_eq!((reply.status, reply.field()), (422, missing), "{reply:?}");
    }
    let mut body = valid.clone();
    body["version"] = json!(1);
    let reply = app.post("/api/v1/rules", body).await;
    assert_eq!(
        (reply.status, reply.field()),
        (422, "version"),
        "unknown field: {reply:?}"
    );

    assert_eq!(
        app.get("/api/v1/rules").await.body["total"],
        0,
        "nothing was created"
    );
    assert!(
        outbox::Entity::find()
            .all(&app.db)
            .await
            .expect("outbox")
            .is_empty()
    );
}

async fn a_rule_for_an_unknown_client_is_404(app: TestApp) {
    let reply = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "ghost", "severity": "LOW", "source": "s", "name": "n"}),
        )
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.code(), "not_found");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ghost")
    );
}

async fn the_same_rule_twice_is_409(app: TestApp) {
    app.client("acme").await;
    app.client("other").await;
    app.rule("acme", "HIGH", "payments", "*").await;
    let reply = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "high", "source": "payments", "name": "*"}),
        )
        .await;
    assert_eq!(
        reply.status, 409,
        "severity is compared after normalising: {reply:?}"
    );
    assert_eq!(reply.code(), "duplicate");
    // Another client may have the very same rule.
    app.rule("other", "HIGH", "payments", "*").await;
    // Source and name are case-sensitive values.
    app.rule("acme", "HIGH", "Payments", "*").await;
}

async fn unknown_rules_are_404(app: TestApp) {
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v1/rules/{missing}"),
        "/api/v1/rules/not-a-uuid".to_owned(),
    ] {
        let body = json!({"version": 1, "severity": "LOW", "source": "s", "name": "n"});
        for reply in [
            app.get(&path).await,
            app.put(&path, body.clone()).await,
            app.patch(&path, json!({"version": 1})).await,
            app.delete(&format!("{path}?version=1")).await,
        ] {
            assert_eq!(reply.status, 404, "{path}: {reply:?}");
            assert_eq!(reply.code(), "not_found");
        }
    }
}

async fn writes_need_the_current_version(app: TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    let path = format!("/api/v1/rules/{}", id(&rule));

    let replaced = app
        .put(&path, json!({"version": 1, "severity": "critical", "source": "payments", "name": "card-declined"}))
        .await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.body["severity"], "CRITICAL");
    assert_eq!(replaced.body["name"], "card-declined");
    assert_eq!(replaced.body["created_at"], rule["created_at"]);
    assert_ne!(replaced.body["updated_at"], rule["updated_at"]);

    let stale = app
        .patch(&path, json!({"version": 1, "enabled": false}))
        .await;
    assert_eq!(stale.status, 409, "{stale:?}");
    assert_eq!(stale.code(), "version_conflict");
    assert_eq!(stale.body["error"]["current_version"], 2);

    let stale_put = app
        .put(
            &path,
            json!({"version": 1, "severity": "LOW", "source": "s", "name": "n"}),
        )
        .await;
    assert_eq!(
        (stale_put.status, stale_put.code()),
        (409, "version_conflict")
    );
    assert_eq!(stale_put.body["error"]["current_version"], 2);

    let stale_delete = app.delete(&format!("{path}?version=1")).await;
    assert_eq!(
        (stale_delete.status, stale_delete.code()),
        (409, "version_conflict")
    );
    assert_eq!(stale_delete.body["error"]["current_version"], 2);

    let unchanged = app.get(&path).await;
    assert_eq!(
        unchanged.body, replaced.body,
        "refused writes change nothing"
    );

    for bad in [
        json!({"enabled": false}),
        json!({"version": "2"}),
        json!({"version": 0}),
    ] {
        let reply = app.patch(&path, bad.clone()).await;
        assert_eq!(
            (reply.status, reply.field()),
            (422, "version"),
            "{bad}: {reply:?}"
        );
    }
    // Unknown fields are refused on updates too, named, and change nothing.
    let unknown_patch = app
        .patch(&path, json!({"version": 2, "enabeld": false}))
        .await;
    assert_eq!(
        (unknown_patch.status, unknown_patch.field()),
        (422, "enabeld"),
        "{unknown_patch:?}"
    );
    let unknown_put = app
        .put(
            &path,
            json!({"version": 2, "severity": "LOW", "source": "s", "name": "n", "client_id": "other"}),
        )
        .await;
    assert_eq!(
        (unknown_put.status, unknown_put.field()),
        (422, "client_id"),
        "{unknown_put:?}"
    );
    assert_eq!(app.get(&path).await.body, replaced.body);
    let no_version = app.delete(&path).await;
    assert_eq!(
        (no_version.status, no_version.field()),
        (422, "version"),
        "{no_version:?}"
    );
}

async fn patch_changes_only_what_it_names(app: TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    let path = format!("/api/v1/rules/{}", id(&rule));

    let disabled = app
        .patch(&path, json!({"version": 1, "enabled": false}))
        .await;
    assert_eq!(disabled.status, 200, "{disabled:?}");
    assert_eq!(disabled.body["enabled"], false);
    assert_eq!(disabled.body["severity"], "HIGH");
    assert_eq!(disabled.body["source"], "payments");
    assert_eq!(disabled.body["version"], 2);

    let enabled = app
        .patch(&path, json!({"version": 2, "enabled": true}))
        .await;
    assert_eq!(enabled.body["enabled"], true);
    let renamed = app
        .patch(&path, json!({"version": 3, "source": "billing"}))
        .await;
    assert_eq!(renamed.body["source"], "billing");
    assert_eq!(renamed.body["version"], 4);

    let bad = app
        .patch(&path, json!({"version": 4, "severity": "urgent"}))
        .await;
    assert_eq!((bad.status, bad.field()), (422, "severity"));
    let moved = app.put(&path, json!({"version": 4, "client_id": "other", "severity": "LOW", "source": "s", "name": "n"})).await;
    assert_eq!(
        (moved.status, moved.field()),
        (422, "client_id"),
        "{moved:?}"
    );
    let same_client = app.put(&path, json!({"version": 4, "client_id": "acme", "severity": "LOW", "source": "s", "name": "n"})).await;
    assert_eq!(
        same_client.status, 200,
        "sending back client_id as read is fine: {same_client:?}"
    );
}

async fn an_update_into_an_existing_rule_is_409(app: TestApp) {
    app.client("acme").await;
    app.rule("acme", "HIGH", "payments", "*").await;
    let other = app.rule("acme", "LOW", "payments", "*").await;
    let reply = app
        .patch(
            &format!("/api/v1/rules/{}", id(&other)),
            json!({"version": 1, "severity": "HIGH"}),
        )
        .await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(reply.code(), "duplicate");
    let replaced = app
        .put(
            &format!("/api/v1/rules/{}", id(&other)),
            json!({"version": 1, "severity": "high", "source": "payments", "name": "*"}),
        )
        .await;
    assert_eq!(
        (replaced.status, replaced.code()),
        (409, "duplicate"),
        "{replaced:?}"
    );
    let unchanged = app.get(&format!("/api/v1/rules/{}", id(&other))).await;
    assert_eq!(unchanged.body["version"], 1);
    assert_eq!(
        outbox_events(&app, &id(&other)).await,
        [("CREATED".to_owned(), 1)]
    );
}

async fn concurrent_writes_with_one_version_let_exactly_one_win(app: TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    let path = format!("/api/v1/rules/{}", id(&rule));
    let writers = (0..8).map(|i| {
        let app = &app;
        let path = path.clone();
        async move {
            app.patch(&path, json!({"version": 1, "name": format!("writer-{i}")}))
                .await
        }
    });
    let replies = futures_util::future::join_all(writers).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 409, 409, 409, 409, 409, 409, 409],
        "{replies:?}"
    );
    let winner = replies.iter().find(|r| r.status == 200).expect("a winner");
    let now = app.get(&path).await;
    assert_eq!(now.body["name"], winner.body["name"]);
    assert_eq!(now.body["version"], 2);
    assert_eq!(outbox_events(&app, &id(&rule)).await.len(), 2);
}

async fn every_write_records_an_outbox_row(app: TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    let path = format!("/api/v1/rules/{}", id(&rule));
    assert_eq!(
        app.patch(&path, json!({"version": 1, "enabled": false}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.patch(&path, json!({"version": 2, "enabled": true}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.patch(&path, json!({"version": 3, "name": "x"}))
            .await
            .status,
        200
    );
    let put = app
        .put(
            &path,
            json!({"version": 4, "severity": "LOW", "source": "s", "name": "n", "enabled": false}),
        )
        .await;
    assert_eq!(put.status, 200);
    let deleted = app.delete(&format!("{path}?version=5")).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(app.get(&path).await.status, 404);

    let events = outbox_events(&app, &id(&rule)).await;
    let expected: Vec<(String, i32)> = [
        ("CREATED", 1),
        ("DISABLED", 2),
        ("ENABLED", 3),
        ("UPDATED", 4),
        ("UPDATED", 5),
        ("DELETED", 6),
    ]
    .into_iter()
    .map(|(action, version)| (action.to_owned(), version))
    .collect();
    assert_eq!(events, expected);
    let row = outbox::Entity::find()
        .order_by_desc(outbox::Column::Id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("a row");
    assert_eq!(row.client_id, "acme");
}

async fn lists_filter_by_client_and_enabled(app: TestApp) {
    app.client("acme").await;
    app.client("other").await;
    let a1 = app.rule("acme", "HIGH", "a", "*").await;
    let a2 = app.rule("acme", "LOW", "a", "*").await;
    let o1 = app.rule("other", "LOW", "a", "*").await;
    app.patch(
        &format!("/api/v1/rules/{}", id(&a2)),
        json!({"version": 1, "enabled": false}),
    )
    .await;

    let ids = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(id)
            .collect()
    };
    let all = app.get("/api/v1/rules").await;
    assert_eq!(ids(&all), [id(&o1), id(&a2), id(&a1)], "newest first");
    assert_eq!(all.body["total"], 3);
    let acme = app.get("/api/v1/rules?client_id=acme").await;
    assert_eq!(ids(&acme), [id(&a2), id(&a1)]);
    let enabled = app.get("/api/v1/rules?client_id=acme&enabled=true").await;
    assert_eq!(ids(&enabled), [id(&a1)]);
    assert_eq!(enabled.body["total"], 1);
    let disabled = app.get("/api/v1/rules?enabled=false").await;
    assert_eq!(ids(&disabled), [id(&a2)]);
    let nobody = app.get("/api/v1/rules?client_id=ghost").await;
    assert_eq!(nobody.body["items"], json!([]));
    let paged = app.get("/api/v1/rules?limit=1&offset=2").await;
    assert_eq!(ids(&paged), [id(&a1)]);
    assert_eq!(paged.body["total"], 3);

    let bad = app.get("/api/v1/rules?enabled=maybe").await;
    assert_eq!((bad.status, bad.field()), (422, "enabled"));
    let typo = app.get("/api/v1/rules?client=acme").await;
    assert_eq!((typo.status, typo.field()), (422, "client"));
}

crate::on_both_backends!(
    create_normalises_and_defaults,
    invalid_fields_are_422_naming_the_field,
    a_rule_for_an_unknown_client_is_404,
    the_same_rule_twice_is_409,
    unknown_rules_are_404,
    writes_need_the_current_version,
    patch_changes_only_what_it_names,
    an_update_into_an_existing_rule_is_409,
    concurrent_writes_with_one_version_let_exactly_one_win,
    every_write_records_an_outbox_row,
    lists_filter_by_client_and_enabled,
);
