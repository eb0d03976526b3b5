//! What an endpoint's address and secret must be before they are stored: a URL that
//! fits its unique index once normalised, and a secret long enough to sign with.

use alerting_entities::endpoints;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;

use crate::{helpers::TestApp, on_both_backends};

const HOST: &str = "https://hooks.example.com/";

/// `len` characters that do not compress, so Postgres's index cannot squeeze them in.
fn incompressible(len: usize) -> String {
    let mut text = String::new();
    while text.len() < len {
        text.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    text.truncate(len);
    text
}

async fn endpoints_path(app: &TestApp) -> String {
    app.client("acme").await;
    let rule = app.rule("acme", "*", "*", "*").await;
    format!(
        "/api/v1/rules/{}/endpoints",
        rule["rule_id"].as_str().expect("rule_id")
    )
}

async fn a_url_is_measured_as_stored_and_what_is_taken_fits_the_index(app: TestApp) {
    let path = endpoints_path(&app).await;
    // 726 bytes as written, 2,126 once each `é` is percent-encoded.
    let grows = format!("{HOST}{}", "é".repeat(350));
    // 2,044 bytes as written, 2,052 once normalised.
    let near = format!("{HOST}{}éé", incompressible(2044 - HOST.len() - 4));
    for url in [&grows, &near] {
        for kind in ["webhook", "slack"] {
            let reply = app.post(&path, json!({"type": kind, "value": url})).await;
            assert_eq!(
                (reply.status, reply.field()),
                (422, "value"),
                "{} bytes as written: {reply:?}",
                url.len()
            );
        }
    }
    // Exactly at the limit once stored: taken, and the unique index holds it.
    let fits = format!("{HOST}{}", incompressible(2048 - HOST.len()));
    let created = app
        .post(&path, json!({"type": "webhook", "value": fits}))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.str("value").len(), 2048);
    // Changing an endpoint to a URL that grows past the limit is refused the same way.
    let moved = app
        .patch(
            &format!("/api/v1/endpoints/{}", created.str("endpoint_id")),
            json!({"value": grows}),
        )
        .await;
    assert_eq!((moved.status, moved.field()), (422, "value"), "{moved:?}");
}

async fn a_secret_shorter_than_16_characters_is_refused_on_create_and_patch(app: TestApp) {
    let path = endpoints_path(&app).await;
    let webhook = |secret: &str| json!({"type": "webhook", "value": "https://hooks.example.com/a", "secret": secret});
    for short in ["change-me", "k", &"é".repeat(15)] {
        let reply = app.post(&path, webhook(short)).await;
        assert_eq!(
            (reply.status, reply.field()),
            (422, "secret"),
            "{short}: {reply:?}"
        );
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("at least 16")
        );
    }
    assert_eq!(app.get(&path).await.body["total"], 0, "nothing was stored");
    let created = app.post(&path, webhook(&"é".repeat(16))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let endpoint = format!("/api/v1/endpoints/{}", created.str("endpoint_id"));
    let patched = app.patch(&endpoint, json!({"secret": "change-me"})).await;
    assert_eq!(
        (patched.status, patched.field()),
        (422, "secret"),
        "{patched:?}"
    );
    let patched = app
        .patch(&endpoint, json!({"secret": "a-new-secret-of-24-chars"}))
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");

    // A short secret stored before this rule stays usable: a PATCH that leaves it alone
    // is not refused for it.
    let id = uuid::Uuid::parse_str(&created.str("endpoint_id")).expect("uuid");
    endpoints::Entity::update_many()
        .col_expr(endpoints::Column::Secret, Expr::value("change-me"))
        .filter(endpoints::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .expect("an old secret");
    let disabled = app.patch(&endpoint, json!({"enabled": false})).await;
    assert_eq!(disabled.status, 200, "{disabled:?}");
    assert_eq!(disabled.body["has_secret"], true);
}

on_both_backends!(
    a_url_is_measured_as_stored_and_what_is_taken_fits_the_index,
    a_secret_shorter_than_16_characters_is_refused_on_create_and_patch,
);
