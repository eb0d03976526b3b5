//! The last hour at a glance (`GET /api/v1/overview`) and the notifications list's time
//! filter (`since`, `until`), over rows written straight into the database.

use alerting_entities::notifications;
use chrono::{Duration, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::json;

use crate::{helpers::TestApp, notifications::insert_notification};

/// A notification made `ago` before now.
async fn made(app: &TestApp, client: &str, alert: &str, status: &str, ago: Duration) {
    let row = insert_notification(app, client, alert, status).await;
    let at = (Utc::now() - ago).trunc_subsecs(6);
    let mut row = row.into_active_model();
    row.created_at = sea_orm::ActiveValue::Set(at);
    let _: notifications::Model = row.update(&app.db).await.expect("backdated");
}

async fn the_overview_counts_the_last_hour_by_status_and_client(app: TestApp) {
    app.client("acme").await;
    app.client("beta").await;
    made(&app, "acme", "a1", "SENT", Duration::minutes(1)).await;
    made(&app, "acme", "a2", "FAILED", Duration::minutes(2)).await;
    made(&app, "acme", "a3", "PARTIAL", Duration::minutes(40)).await;
    made(&app, "acme", "old", "FAILED", Duration::hours(3)).await;
    made(&app, "beta", "b1", "FAILED", Duration::minutes(1)).await;

    let all = app.get("/api/v1/overview").await;
    assert_eq!(all.status, 200, "{all:?}");
    let buckets = all.body["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 12);
    let sum = |status: &str| -> u64 {
        buckets
            .iter()
            .map(|b| b["notifications"][status].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        (sum("SENT"), sum("FAILED"), sum("PARTIAL")),
        (1, 2, 1),
        "{all:?}"
    );
    assert_eq!(
        (&all.body["failed"], &all.body["partial"]),
        (&json!(2), &json!(1)),
        "the hour's, not older ones"
    );
    assert_eq!(all.body["open"], 5, "open now, of any age");

    let acme = app.get("/api/v1/overview?client_id=acme").await;
    assert_eq!(acme.body["failed"], 1, "{acme:?}");
    let key = app.key("beta", "beta", &["manage"]).await;
    let own = app
        .as_token(Some(&key))
        .get("/api/v1/overview?client_id=acme")
        .await;
    assert_eq!(
        (own.body["failed"].clone(), own.body["open"].clone()),
        (json!(0), json!(0)),
        "another client's: nothing"
    );
    let own = app.as_token(Some(&key)).get("/api/v1/overview").await;
    assert_eq!(
        (own.body["failed"].clone(), own.body["open"].clone()),
        (json!(1), json!(1))
    );
}

async fn notifications_filter_by_when_they_were_made(app: TestApp) {
    app.client("acme").await;
    made(&app, "acme", "new", "SENT", Duration::minutes(5)).await;
    made(&app, "acme", "old", "SENT", Duration::hours(5)).await;
    let since =
        (Utc::now() - Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let recent = app
        .get(&format!("/api/v1/notifications?since={since}"))
        .await;
    assert_eq!(recent.status, 200, "{recent:?}");
    assert_eq!(recent.body["total"], 1);
    assert_eq!(recent.body["items"][0]["alert_id"], "new");
    let older = app
        .get(&format!("/api/v1/notifications?until={since}"))
        .await;
    assert_eq!(older.body["items"][0]["alert_id"], "old");
    assert_eq!(older.body["total"], 1);
    let bad = app.get("/api/v1/notifications?since=yesterday").await;
    assert_eq!((bad.status, bad.field()), (422, "since"), "{bad:?}");
}

crate::on_both_backends!(
    the_overview_counts_the_last_hour_by_status_and_client,
    notifications_filter_by_when_they_were_made,
);
