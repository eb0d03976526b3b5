//! Acknowledging a notification: the admin or a key of its client with `manage` takes
//! it; the record says who and when, the first to acknowledge keeps it, and
//! notifications list by state. A key without `manage`, or another client's key, may
//! not.

use serde_json::json;

use crate::{helpers::TestApp, notifications::insert_notification, on_both_backends};

async fn a_person_acknowledges_once_and_the_record_says_who(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    let first = insert_notification(&app, "acme", "a1", "SENT").await.id;
    let second = insert_notification(&app, "acme", "a2", "SENT").await.id;
    let oncall = app.key("acme", "oncall-alice", &["manage"]).await;
    let ingest = app.key("acme", "collector", &["ingest"]).await;
    let other = app.key("globex", "globex-oncall", &["manage"]).await;
    let path = |id: uuid::Uuid| format!("/api/v1/notifications/{id}/acknowledge");

    let refused = app
        .as_token(Some(&ingest))
        .post(&path(first), json!({}))
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let hidden = app
        .as_token(Some(&other))
        .post(&path(first), json!({}))
        .await;
    assert_eq!(hidden.status, 404, "another client's: {hidden:?}");

    let acknowledged = app
        .as_token(Some(&oncall))
        .post(&path(first), json!({}))
        .await;
    assert_eq!(acknowledged.status, 200, "{acknowledged:?}");
    assert_eq!(acknowledged.str("state"), "acknowledged");
    assert_eq!(acknowledged.str("acknowledged_by"), "oncall-alice");
    let at = acknowledged.str("acknowledged_at");
    // Again, by the admin: the first acknowledgement stands.
    let again = app.post(&path(first), json!({})).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.str("acknowledged_by"), "oncall-alice");
    assert_eq!(again.str("acknowledged_at"), at);
    let by_admin = app.post(&path(second), json!({})).await;
    assert_eq!(by_admin.str("acknowledged_by"), "admin");

    let third = insert_notification(&app, "acme", "a3", "PENDING").await.id;
    let listed = |state: &'static str| {
        let app = &app;
        async move {
            let page = app
                .get(&format!(
                    "/api/v1/notifications?client_id=acme&state={state}"
                ))
                .await;
            assert_eq!(page.status, 200, "{page:?}");
            let mut ids: Vec<String> = page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|n| n["notification_id"].as_str().unwrap_or_default().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![first.to_string(), second.to_string()];
    both.sort();
    assert_eq!(listed("acknowledged").await, both);
    assert_eq!(listed("open").await, vec![third.to_string()]);
    let unknown = app.get("/api/v1/notifications?state=snoozed").await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (422, "state"),
        "{unknown:?}"
    );
}

on_both_backends!(a_person_acknowledges_once_and_the_record_says_who);
