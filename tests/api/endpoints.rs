//! A rule's endpoints: one of each type, values that must fit their type, duplicates
//! and unknown ids, changes, and removal with the endpoint or its rule; no answer ever
//! carries a secret.

use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn rule_id(app: &TestApp) -> String {
    app.client("acme").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    rule["rule_id"].as_str().expect("rule_id").to_owned()
}

/// No response ever carries a secret, at any depth.
fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    assert!(
        !text.contains("s3cret-key-0123456789"),
        "secret leaked: {text}"
    );
    assert!(body.get("secret").is_none(), "{text}");
}

async fn each_type_is_created_with_a_valid_value(app: TestApp) {
    let rule_id = rule_id(&app).await;
    let path = format!("/api/v1/rules/{rule_id}/endpoints");
    let webhook = app
        .post(&path, json!({"type": "webhook", "value": "https://hooks.example.com/alerts", "secret": "s3cret-key-0123456789"}))
        .await;
    assert_eq!(webhook.status, 201, "{webhook:?}");
    assert_eq!(webhook.body["type"], "webhook");
    assert_eq!(webhook.body["has_secret"], true);
    assert_eq!(webhook.body["enabled"], true);
    assert_eq!(webhook.body["rule_id"], rule_id.as_str());
    assert_no_secret(&webhook.body);
    let endpoint_id = webhook.str("endpoint_id");
    assert_eq!(
        webhook.headers["location"],
        format!("/api/v1/endpoints/{endpoint_id}").as_str()
    );

    let slack = app
        .post(
            &path,
            json!({"type": "Slack", "value": "https://hooks.slack.com/services/T0/B0/X"}),
        )
        .await;
    assert_eq!(slack.status, 201, "{slack:?}");
    assert_eq!(slack.body["type"], "slack");
    assert_eq!(slack.body["has_secret"], false);

    let email = app
        .post(
            &path,
            json!({"type": "email", "value": "oncall+pay@example.com", "enabled": false}),
        )
        .await;
    assert_eq!(email.status, 201, "{email:?}");
    assert_eq!(email.body["enabled"], false);

    let fetched = app.get(&format!("/api/v1/endpoints/{endpoint_id}")).await;
    assert_eq!(fetched.body, webhook.body);
    assert_no_secret(&fetched.body);

    let list = app.get(&path).await;
    assert_eq!(list.body["total"], 3);
    let types: Vec<_> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types,
        [json!("email"), json!("slack"), json!("webhook")],
        "newest first"
    );
    assert_no_secret(&list.body);
}

async fn values_must_fit_their_type(app: TestApp) {
    let rule_id = rule_id(&app).await;
    let path = format!("/api/v1/rules/{rule_id}/endpoints");
    let cases = [
        (json!({"type": "webhook", "value": "not a url"}), "value"),
        (
            json!({"type": "webhook", "value": "ftp://example.com/x"}),
            "value",
        ),
        (
            json!({"type": "webhook", "value": "ops@example.com"}),
            "value",
        ),
        (
            json!({"type": "slack", "value": "mailto:ops@example.com"}),
            "value",
        ),
        (
            json!({"type": "email", "value": "https://example.com"}),
            "value",
        ),
        (
            json!({"type": "email", "value": "ops@example.com\r\nBcc: all@example.com"}),
            "value",
        ),
        (json!({"type": "sms", "value": "+15551234"}), "type"),
        (
            json!({"type": "slack", "value": "https://hooks.slack.com/x", "secret": "slack-takes-no-secret"}),
            "secret",
        ),
        (
            json!({"type": "webhook", "value": "https://example.com", "secret": ""}),
            "secret",
        ),
        (json!({"value": "https://example.com"}), "type"),
        (json!({"type": "webhook"}), "value"),
        (
            json!({"type": "webhook", "value": "https://example.com", "url": "x"}),
            "url",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post(&path, body.clone()).await;
        assert_eq!(
            (reply.status, reply.field()),
            (422, field),
            "{body}: {reply:?}"
        );
    }
    assert_eq!(app.get(&path).await.body["total"], 0);
}

async fn duplicates_are_409_and_unknown_ids_404(app: TestApp) {
    let rule_id = rule_id(&app).await;
    app.endpoint(&rule_id, "webhook", "https://example.com/hook")
        .await;
    let again = app
        .post(
            &format!("/api/v1/rules/{rule_id}/endpoints"),
            json!({"type": "webhook", "value": "HTTPS://EXAMPLE.com/hook"}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "duplicate"),
        "URLs compare normalised: {again:?}"
    );
    // The same address on another channel is another endpoint.
    app.endpoint(&rule_id, "slack", "https://example.com/hook")
        .await;

    let ghost_rule = uuid::Uuid::new_v4();
    let reply = app
        .post(
            &format!("/api/v1/rules/{ghost_rule}/endpoints"),
            json!({"type": "email", "value": "ops@example.com"}),
        )
        .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(
        app.get(&format!("/api/v1/rules/{ghost_rule}/endpoints"))
            .await
            .status,
        404
    );
    assert_eq!(app.get("/api/v1/rules/nope/endpoints").await.status, 404);

    let ghost = uuid::Uuid::new_v4();
    for reply in [
        app.get(&format!("/api/v1/endpoints/{ghost}")).await,
        app.patch(
            &format!("/api/v1/endpoints/{ghost}"),
            json!({"enabled": false}),
        )
        .await,
        app.delete(&format!("/api/v1/endpoints/{ghost}")).await,
        app.get("/api/v1/endpoints/not-a-uuid").await,
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (404, "not_found"),
            "{reply:?}"
        );
    }
}

async fn patch_updates_value_secret_and_enabled(app: TestApp) {
    let rule_id = rule_id(&app).await;
    let endpoint = app
        .endpoint(&rule_id, "webhook", "https://example.com/a")
        .await;
    let path = format!(
        "/api/v1/endpoints/{}",
        endpoint["endpoint_id"].as_str().expect("id")
    );

    let signed = app
        .patch(
            &path,
            json!({"secret": "s3cret-key-0123456789", "enabled": false}),
        )
        .await;
    assert_eq!(signed.status, 200, "{signed:?}");
    assert_eq!(signed.body["has_secret"], true);
    assert_eq!(signed.body["enabled"], false);
    assert_no_secret(&signed.body);

    let moved = app
        .patch(&path, json!({"value": "https://example.com/b"}))
        .await;
    assert_eq!(moved.body["value"], "https://example.com/b");
    assert_eq!(moved.body["has_secret"], true, "untouched fields stay");

    let unknown = app
        .patch(&path, json!({"value": "https://example.com/c", "url": "x"}))
        .await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (422, "url"),
        "{unknown:?}"
    );
    assert_eq!(
        app.get(&path).await.body["value"],
        "https://example.com/b",
        "a refused patch changes nothing"
    );

    let to_email = app.patch(&path, json!({"type": "email"})).await;
    assert_eq!(
        (to_email.status, to_email.field()),
        (422, "value"),
        "a URL is no address: {to_email:?}"
    );
    let to_slack_with_secret = app.patch(&path, json!({"type": "slack"})).await;
    assert_eq!(
        to_slack_with_secret.field(),
        "secret",
        "{to_slack_with_secret:?}"
    );
    let to_slack = app
        .patch(&path, json!({"type": "slack", "secret": null}))
        .await;
    assert_eq!(to_slack.status, 200, "{to_slack:?}");
    assert_eq!(to_slack.body["type"], "slack");
    assert_eq!(to_slack.body["has_secret"], false);

    let other = app
        .endpoint(&rule_id, "slack", "https://example.com/c")
        .await;
    let clash = app
        .patch(
            &format!(
                "/api/v1/endpoints/{}",
                other["endpoint_id"].as_str().expect("id")
            ),
            json!({"value": "https://example.com/b"}),
        )
        .await;
    assert_eq!(
        (clash.status, clash.code()),
        (409, "duplicate"),
        "{clash:?}"
    );
}

async fn deleting_an_endpoint_or_its_rule_removes_it(app: TestApp) {
    let rule_id = rule_id(&app).await;
    let first = app.endpoint(&rule_id, "email", "a@example.com").await;
    let second = app.endpoint(&rule_id, "email", "b@example.com").await;
    let first_path = format!(
        "/api/v1/endpoints/{}",
        first["endpoint_id"].as_str().expect("id")
    );
    assert_eq!(app.delete(&first_path).await.status, 204);
    assert_eq!(app.get(&first_path).await.status, 404);
    assert_eq!(app.delete(&first_path).await.status, 404);

    let rule = app.get(&format!("/api/v1/rules/{rule_id}")).await;
    let version = rule.body["version"].as_i64().expect("version");
    assert_eq!(
        app.delete(&format!("/api/v1/rules/{rule_id}?version={version}"))
            .await
            .status,
        204
    );
    let second_path = format!(
        "/api/v1/endpoints/{}",
        second["endpoint_id"].as_str().expect("id")
    );
    assert_eq!(
        app.get(&second_path).await.status,
        404,
        "cascaded with its rule"
    );
}

crate::on_both_backends!(
    each_type_is_created_with_a_valid_value,
    values_must_fit_their_type,
    duplicates_are_409_and_unknown_ids_404,
    patch_updates_value_secret_and_enabled,
    deleting_an_endpoint_or_its_rule_removes_it,
);
