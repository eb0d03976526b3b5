//! Resolving, where it is enforced: the aggregator's handler and the API on the
//! database. A resolved alert closes its client's open notification with the key, in
//! the order the alerts came (a batch that fires, resolves and fires again ends with
//! the second notification open); a resolve with nothing open, another client's
//! resolve and a redelivered batch change nothing. A person resolves from the API,
//! once, and the key is free for the next alert.

use alerting_entities::notifications;
use alerting_handlers::{
    domain::AlertStatus,
    events::{AlertMatchedEvent, NotificationReadyEvent},
    jobs::{aggregate::aggregate, timings::Timings},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::{
    helpers::{TestApp, matched},
    on_both_backends,
};

fn resolved(client: &str, alert: &str, key: &str) -> AlertMatchedEvent {
    let mut resolve = matched(client, alert, Some(key));
    resolve.alert.status = AlertStatus::Resolved;
    resolve
}

/// The alert ids announced by one run of the handler, in order, once each time.
async fn announced(app: &TestApp, batch: &[AlertMatchedEvent]) -> Vec<String> {
    let mut ids: Vec<String> = aggregate(&app.db, batch, &Timings::default())
        .await
        .expect("aggregated")
        .iter()
        .map(|m| NotificationReadyEvent::decode(&m.payload).expect("announcement"))
        .map(|e| e.alert_id)
        .collect();
    ids.sort();
    ids
}

async fn keyed(app: &TestApp, client: &str, key: &str) -> Vec<notifications::Model> {
    notifications::Entity::find()
        .filter(notifications::Column::ClientId.eq(client))
        .filter(notifications::Column::DedupKey.eq(key))
        .order_by_asc(notifications::Column::Id)
        .all(&app.db)
        .await
        .expect("rows")
}

async fn a_resolved_alert_closes_its_keys_notification_in_the_order_sent(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    let batch = [
        matched("acme", "f1", Some("disk:db1")),
        matched("acme", "f2", Some("disk:db1")),
        resolved("acme", "r1", "disk:db1"),
        matched("acme", "f3", Some("disk:db1")),
        // Another client's resolve of the same key, and a resolve with nothing open.
        resolved("globex", "r9", "disk:db1"),
        resolved("acme", "r0", "disk:db2"),
    ];
    assert_eq!(
        announced(&app, &batch).await,
        ["f1", "f1", "f3"],
        "f1 fired and was resolved (two announcements), f3 opened"
    );
    let rows = keyed(&app, "acme", "disk:db1").await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (first, second) = (&rows[0], &rows[1]);
    assert_eq!(
        (first.alert_id.as_str(), first.occurrences),
        ("f1", 2),
        "f2 folded into f1 before the resolve"
    );
    assert!(
        first.resolved_at.is_some() && first.open_key.is_none(),
        "{first:#?}"
    );
    assert_eq!(first.resolved_by.as_deref(), Some("alert r1"));
    assert_eq!(first.resolution_status.as_deref(), Some("PENDING"));
    assert_eq!(second.alert_id, "f3");
    assert_eq!(second.open_key.as_deref(), Some("disk:db1"), "{second:#?}");
    assert!(second.resolved_at.is_none());
    assert!(keyed(&app, "acme", "disk:db2").await.is_empty());
    assert!(keyed(&app, "globex", "disk:db1").await.is_empty());

    // The batch again (a redelivery), then its folded alert alone (its batch's
    // redelivery after the resolve): nothing opens, nothing counts twice.
    announced(&app, &batch).await;
    announced(&app, &batch[1..2]).await;
    let again = keyed(&app, "acme", "disk:db1").await;
    assert_eq!(again.len(), 2, "{again:#?}");
    assert_eq!((again[0].occurrences, again[1].occurrences), (2, 1));
    assert_eq!(again[1].open_key.as_deref(), Some("disk:db1"));
    // A key resolved with nothing open since: its folded alert's redelivery opens
    // nothing either.
    let closed = [
        matched("acme", "x1", Some("disk:db3")),
        matched("acme", "x2", Some("disk:db3")),
        resolved("acme", "x3", "disk:db3"),
    ];
    announced(&app, &closed).await;
    assert!(announced(&app, &closed[1..2]).await.is_empty());
    let closed = keyed(&app, "acme", "disk:db3").await;
    assert_eq!(closed.len(), 1, "{closed:#?}");
    assert!(closed[0].open_key.is_none());
    // A new alert with the key folds into the open one.
    assert!(
        announced(&app, &[matched("acme", "f4", Some("disk:db1"))])
            .await
            .is_empty()
    );
    assert_eq!(keyed(&app, "acme", "disk:db1").await[1].occurrences, 2);
}

async fn a_person_resolves_once_and_the_key_is_free_again(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    announced(&app, &[matched("acme", "a1", Some("db1"))]).await;
    let id = keyed(&app, "acme", "db1").await[0].id;
    let oncall = app.key("acme", "oncall-alice", &["manage"]).await;
    let ingest = app.key("acme", "collector", &["ingest"]).await;
    let other = app.key("globex", "globex-oncall", &["manage"]).await;
    let path = format!("/api/v1/notifications/{id}/resolve");

    let refused = app.as_token(Some(&ingest)).post(&path, json!({})).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let hidden = app.as_token(Some(&other)).post(&path, json!({})).await;
    assert_eq!(hidden.status, 404, "another client's: {hidden:?}");

    let resolved = app.as_token(Some(&oncall)).post(&path, json!({})).await;
    assert_eq!(resolved.status, 200, "{resolved:?}");
    assert_eq!(resolved.str("state"), "resolved");
    assert_eq!(resolved.str("resolved_by"), "oncall-alice");
    assert_eq!(resolved.str("resolution_status"), "PENDING");
    let at = resolved.str("resolved_at");
    let again = app.post(&path, json!({})).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        (again.str("resolved_by"), again.str("resolved_at")),
        ("oncall-alice".to_owned(), at),
        "the first resolution stands"
    );

    announced(&app, &[matched("acme", "a2", Some("db1"))]).await;
    let rows = keyed(&app, "acme", "db1").await;
    assert_eq!(rows.len(), 2, "the key's next alert opens anew: {rows:#?}");
    let record = app.get(&format!("/api/v1/notifications/{id}")).await;
    assert_eq!(record.body["folded"], serde_json::json!([]), "{record:?}");
    let listed = |state: &'static str| {
        let app = &app;
        async move {
            let page = app
                .get(&format!(
                    "/api/v1/notifications?client_id=acme&state={state}"
                ))
                .await;
            assert_eq!(page.status, 200, "{page:?}");
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|n| n["alert_id"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("resolved").await, ["a1"]);
    assert_eq!(listed("open").await, ["a2"]);
}

/// A resolve that found nothing open (a person had resolved it) is recorded all the
/// same: redelivered after the key opened again, it leaves the new notification open.
async fn a_resolve_that_closed_nothing_closes_nothing_when_redelivered(app: TestApp) {
    app.client("acme").await;
    announced(&app, &[matched("acme", "f1", Some("db1"))]).await;
    let first = keyed(&app, "acme", "db1").await[0].id;
    let reply = app
        .post(&format!("/api/v1/notifications/{first}/resolve"), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let late = [
        resolved("acme", "r1", "db1"),
        matched("acme", "f2", Some("db1")),
    ];
    assert_eq!(
        announced(&app, &late).await,
        ["f2"],
        "r1 closed nothing; f2 opened"
    );
    // The batch again: r1 is known, so f2's notification stays open, and is announced
    // again while undelivered.
    assert_eq!(announced(&app, &late).await, ["f2"]);
    let rows = keyed(&app, "acme", "db1").await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[1].open_key.as_deref(), Some("db1"), "{rows:#?}");
    assert!(rows[1].resolved_at.is_none());
}

on_both_backends!(
    a_resolve_that_closed_nothing_closes_nothing_when_redelivered,
    a_resolved_alert_closes_its_keys_notification_in_the_order_sent,
    a_person_resolves_once_and_the_key_is_free_again
);
