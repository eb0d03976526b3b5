//! Silences and maintenance windows over the API, on both backends: created for a
//! client (by the admin or a key of the client with `manage`), refused with the field at
//! fault, listed by state, expired early once. Whether they silence is the pipeline's
//! (`pipeline::silences`); when a window is open is the domain's unit tests.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_backends};

fn in_hours(hours: i64) -> String {
    (Utc::now() + Duration::hours(hours)).to_rfc3339()
}

async fn silences_are_made_listed_and_expired(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    let oncall = app.key("acme", "oncall-alice", &["manage"]).await;
    let ingest = app.key("acme", "collector", &["ingest"]).await;
    let other = app.key("globex", "globex-oncall", &["manage"]).await;
    let body = json!({
        "client_id": "acme",
        "matchers": {"source": "db", "context": {"region": "eu"}},
        "ends_at": in_hours(2),
        "comment": "db migration",
    });

    let refused = app
        .as_token(Some(&ingest))
        .post("/api/v1/silences", body.clone())
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let hidden = app
        .as_token(Some(&other))
        .post("/api/v1/silences", body.clone())
        .await;
    assert_eq!(hidden.status, 404, "another client's: {hidden:?}");

    let made = app
        .as_token(Some(&oncall))
        .post("/api/v1/silences", body)
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(made.str("state"), "active");
    assert_eq!(made.body["silencing_now"], true);
    assert_eq!(made.str("created_by"), "oncall-alice");
    assert_eq!(
        made.body["matchers"],
        json!({"severity": "*", "source": "db", "name": "*", "context": {"region": "eu"}})
    );
    let id = made.str("silence_id");
    let read = app
        .as_token(Some(&other))
        .get(&format!("/api/v1/silences/{id}"))
        .await;
    assert_eq!(read.status, 404, "{read:?}");

    let later = app
        .post(
            "/api/v1/silences",
            json!({"client_id": "acme", "matchers": {}, "starts_at": in_hours(1), "ends_at": in_hours(3), "created_by": "change-42"}),
        )
        .await;
    assert_eq!(later.status, 201, "{later:?}");
    assert_eq!(later.str("state"), "pending");
    assert_eq!(later.body["silencing_now"], false);
    assert_eq!(later.str("created_by"), "change-42");

    let expired = app
        .as_token(Some(&oncall))
        .post(&format!("/api/v1/silences/{id}/expire"), json!({}))
        .await;
    assert_eq!(expired.status, 200, "{expired:?}");
    assert_eq!(expired.str("state"), "expired");
    assert_eq!(expired.body["silencing_now"], false);
    let again = app
        .post(&format!("/api/v1/silences/{id}/expire"), json!({}))
        .await;
    assert_eq!(again.str("ends_at"), expired.str("ends_at"), "expired once");

    let listed = |state: &'static str| {
        let app = &app;
        async move {
            let page = app
                .get(&format!("/api/v1/silences?client_id=acme&state={state}"))
                .await;
            assert_eq!(page.status, 200, "{page:?}");
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|s| s["silence_id"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("expired").await, [id]);
    assert_eq!(listed("pending").await, [later.str("silence_id")]);
    assert!(listed("active").await.is_empty());
    let globex = app.as_token(Some(&other)).get("/api/v1/silences").await;
    assert_eq!(
        globex.body["total"], 0,
        "another client's silences are not listed"
    );
}

async fn a_maintenance_window_recurs_in_its_time_zone(app: TestApp) {
    app.client("acme").await;
    let made = app
        .post(
            "/api/v1/silences",
            json!({
                "client_id": "acme",
                "matchers": {"severity": "LOW"},
                "recurrence": {"days": ["sat", "SUN"], "start": "22:00", "duration": "8h", "time_zone": "Europe/Berlin"},
                "comment": "weekend batch jobs",
            }),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(
        made.body["recurrence"],
        json!({"days": ["sat", "sun"], "start": "22:00", "duration": "8h", "time_zone": "Europe/Berlin"})
    );
    assert!(made.body["ends_at"].is_null(), "recurs until expired");
    assert_eq!(made.str("state"), "active");
    assert!(made.body["silencing_now"].is_boolean());
}

async fn bad_silences_name_the_field(app: TestApp) {
    app.client("acme").await;
    let cases: [(Value, &str); 8] = [
        (json!({"client_id": "acme", "matchers": {}}), "ends_at"),
        (
            json!({"client_id": "acme", "matchers": {}, "ends_at": in_hours(-1)}),
            "ends_at",
        ),
        (
            json!({"client_id": "acme", "matchers": {"severity": "LOUD"}, "ends_at": in_hours(1)}),
            "matchers.severity",
        ),
        (
            json!({"client_id": "acme", "matchers": {"source": ""}, "ends_at": in_hours(1)}),
            "matchers.source",
        ),
        (
            json!({"client_id": "acme", "matchers": {"labels": {}}, "ends_at": in_hours(1)}),
            "matchers.labels",
        ),
        (
            json!({"client_id": "acme", "matchers": {}, "recurrence": {"days": ["mon"], "start": "22:00", "duration": "1h", "time_zone": "Mars/Olympus"}}),
            "recurrence.time_zone",
        ),
        (
            json!({"client_id": "acme", "matchers": {}, "recurrence": {"days": ["mon"], "start": "22:00", "duration": "9d", "time_zone": "UTC"}}),
            "recurrence.duration",
        ),
        (
            json!({"client_id": "acme", "matchers": {}, "ends_at": in_hours(1), "comment": "x".repeat(1_001)}),
            "comment",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/silences", body.clone()).await;
        assert_eq!(
            (reply.status, reply.field()),
            (422, field),
            "{body}: {reply:?}"
        );
    }
    let missing = app
        .post(
            "/api/v1/silences",
            json!({"client_id": "nobody", "matchers": {}, "ends_at": in_hours(1)}),
        )
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    let state = app.get("/api/v1/silences?state=snoozed").await;
    assert_eq!((state.status, state.field()), (422, "state"), "{state:?}");
}

on_both_backends!(
    silences_are_made_listed_and_expired,
    a_maintenance_window_recurs_in_its_time_zone,
    bad_silences_name_the_field,
);
