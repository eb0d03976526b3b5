//! What an endpoint's address and secret must be before they are stored: a URL that
//! fits its unique index once normalised, and a secret long enough to sign with.

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

on_both_backends!(a_url_is_measured_as_stored_and_what_is_taken_fits_the_index);
