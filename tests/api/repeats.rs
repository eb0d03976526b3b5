//! Repeats and auto-resolve where they are decided: the rule's intervals over the API,
//! stamped by the aggregator on the notifications it makes, and the sender's timer
//! (`jobs::lifecycle`) run at chosen moments on the database. What repeats is open,
//! unacknowledged and delivered; three runners at once announce one repeat; an
//! acknowledged, resolved or silenced notification stops (a repeat announced and not yet
//! delivered is dropped), and so does one whose rule no longer repeats; one still being
//! delivered waits. Auto-resolve closes only what has had no occurrence for its interval.

use alerting_entities::notifications;
use alerting_handlers::{
    events::NotificationReadyEvent,
    jobs::{
        aggregate::aggregate,
        lifecycle::{auto_resolve_due, repeat_due},
        timings::RuleTimings,
    },
    ports::OutgoingMessage,
};
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, matched};

/// The alert ids `messages` announce.
fn alerts(messages: &[OutgoingMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            NotificationReadyEvent::decode(&m.payload)
                .expect("announcement")
                .alert_id
        })
        .collect()
}

/// A rule of acme's for alerts of `source`, with these intervals (JSON values, null
/// for none).
async fn timed_rule(
    app: &TestApp,
    source: &str,
    repeat: serde_json::Value,
    auto_resolve: serde_json::Value,
) -> Uuid {
    let reply = app
        .post(
            "/api/v1/rules",
            json!({"client_id": "acme", "severity": "*", "source": source, "name": "*",
                   "repeat_interval": repeat, "auto_resolve_after": auto_resolve}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.body["rule_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

/// Stores `alert` (with `key`) as matched by `rule`, as the aggregator does, with the
/// rules' intervals read as it reads them; returns the notification.
async fn store(app: &TestApp, rule: Uuid, alert: &str, key: Option<&str>) -> notifications::Model {
    let mut event = matched("acme", alert, key);
    event.rule_ids = vec![rule];
    let timings = RuleTimings::default()
        .current(&app.db)
        .await
        .expect("timings");
    aggregate(&app.db, &[event], &timings)
        .await
        .expect("stored");
    notifications::Entity::find()
        .all(&app.db)
        .await
        .expect("rows")
        .into_iter()
        .find(|n| n.alert_id == alert || key.is_some_and(|k| n.dedup_key.as_deref() == Some(k)))
        .expect("the notification")
}

/// The rules' intervals as a sender's timer reads them now.
async fn current(app: &TestApp) -> std::sync::Arc<alerting_handlers::jobs::timings::Timings> {
    RuleTimings::default()
        .current(&app.db)
        .await
        .expect("timings")
}

async fn reread(app: &TestApp, id: Uuid) -> notifications::Model {
    notifications::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("read")
        .expect("there")
}

/// Its delivery done: what the sender writes.
async fn delivered(app: &TestApp, row: notifications::Model) {
    let mut active = row.into_active_model();
    active.status = Set("SENT".to_owned());
    active.update(&app.db).await.expect("SENT");
}

async fn intervals_are_parsed_shown_and_cleared(app: TestApp) {
    app.client("acme").await;
    for (field, bad) in [
        ("repeat_interval", "0s"),
        ("repeat_interval", "soon"),
        ("auto_resolve_after", "31d"),
    ] {
        let reply = app
            .post(
                "/api/v1/rules",
                json!({"client_id": "acme", "severity": "*", "source": "*", "name": "*", field: bad}),
            )
            .await;
        assert_eq!(reply.status, 422, "{field}={bad}: {reply:?}");
        assert_eq!(reply.body["error"]["field"], field, "{reply:?}");
    }
    let rule = timed_rule(&app, "*", json!("90s"), json!("1h30m")).await;
    let shown = app.get(&format!("/api/v1/rules/{rule}")).await.body;
    assert_eq!(shown["repeat_interval"], "1m30s", "{shown:#}");
    assert_eq!(shown["auto_resolve_after"], "1h30m");
    // PATCH: null clears one, leaving out the other keeps it.
    let patched = app
        .patch(
            &format!("/api/v1/rules/{rule}"),
            json!({"version": shown["version"], "repeat_interval": null}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.body["repeat_interval"], json!(null));
    assert_eq!(patched.body["auto_resolve_after"], "1h30m");
}

async fn an_open_notification_repeats_once_per_interval_until_acknowledged(app: TestApp) {
    app.client("acme").await;
    let rule = timed_rule(&app, "*", json!("10m"), json!(null)).await;
    let row = store(&app, rule, "cpu-1", None).await;
    assert_eq!(
        row.repeat_interval_seconds,
        Some(600),
        "stamped from its rule"
    );
    let first_due = row.next_repeat_at.expect("a repeat is scheduled");
    let now = Utc::now();

    // Not due yet; then due, but its own delivery is still going: it waits.
    assert!(
        repeat_due(&app.db, &*current(&app).await, now)
            .await
            .expect("run")
            .is_empty()
    );
    let later = first_due + Duration::seconds(1);
    assert!(
        repeat_due(&app.db, &*current(&app).await, later)
            .await
            .expect("run")
            .is_empty()
    );
    let waited = reread(&app, row.id).await;
    assert_eq!(waited.repeats, 0);
    assert!(waited.next_repeat_at.expect("still scheduled") > first_due);

    // Delivered: the next run repeats it, once, however many runners run at once.
    delivered(&app, waited.clone()).await;
    let due = waited.next_repeat_at.expect("scheduled") + Duration::seconds(1);
    let timings = current(&app).await;
    let runs =
        futures_util::future::join_all((0..3).map(|_| repeat_due(&app.db, &timings, due))).await;
    let announced: Vec<String> = runs
        .iter()
        .flat_map(|run| alerts(run.as_ref().expect("run")))
        .collect();
    assert_eq!(announced, ["cpu-1"], "one repeat announced");
    let repeating = reread(&app, row.id).await;
    assert_eq!(repeating.repeats, 1);
    assert_eq!(repeating.repeat_status.as_deref(), Some("PENDING"));
    assert_eq!(
        repeating.next_repeat_at,
        Some(due + Duration::minutes(10)),
        "an interval from this repeat"
    );

    // Acknowledged: no more repeats, and none scheduled.
    let acked = app
        .post(
            &format!("/api/v1/notifications/{}/acknowledge", row.id),
            json!({}),
        )
        .await;
    assert_eq!(acked.status, 200, "{acked:?}");
    assert_eq!(acked.body["repeats"], 1);
    assert_eq!(
        acked.body["repeat_status"],
        json!(null),
        "the repeat announced is not delivered: {:#}",
        acked.body
    );
    assert_eq!(
        acked.body["next_repeat_at"],
        json!(null),
        "{:#}",
        acked.body
    );
    let much_later = due + Duration::days(1);
    assert!(
        repeat_due(&app.db, &*current(&app).await, much_later)
            .await
            .expect("run")
            .is_empty()
    );
    assert_eq!(reread(&app, row.id).await.repeats, 1);
}

async fn resolved_and_silenced_notifications_stop_repeating(app: TestApp) {
    app.client("acme").await;
    let rule = timed_rule(&app, "*", json!("1m"), json!(null)).await;
    let resolved = store(&app, rule, "disk-1", Some("db/disk")).await;
    let silenced = store(&app, rule, "mem-1", None).await;
    let untimed = timed_rule(&app, "payments", json!(null), json!(null)).await;
    // A rule without intervals: its notification never repeats.
    let quiet = store(&app, untimed, "net-1", None).await;
    assert_eq!(quiet.next_repeat_at, None, "no interval, no repeat");
    let dropped = timed_rule(&app, "cache", json!("1m"), json!(null)).await;
    let unruled = store(&app, dropped, "evict-1", None).await;
    for row in [&resolved, &silenced, &unruled] {
        delivered(&app, row.clone()).await;
    }
    // A repeat announced and not delivered yet when it is resolved: dropped.
    let mut active = reread(&app, resolved.id).await.into_active_model();
    active.repeats = Set(1);
    active.repeat_status = Set(Some("PENDING".to_owned()));
    active.update(&app.db).await.expect("repeating");
    // Its rule repeats no more.
    let rule_now = app.get(&format!("/api/v1/rules/{dropped}")).await.body;
    let patched = app
        .patch(
            &format!("/api/v1/rules/{dropped}"),
            json!({"version": rule_now["version"], "repeat_interval": null}),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let reply = app
        .post(
            &format!("/api/v1/notifications/{}/resolve", resolved.id),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["repeat_status"], json!(null), "{:#}", reply.body);
    let mut active = reread(&app, silenced.id).await.into_active_model();
    active.status = Set("SILENCED".to_owned());
    active.update(&app.db).await.expect("silenced");

    let due = Utc::now() + Duration::hours(1);
    assert!(
        repeat_due(&app.db, &*current(&app).await, due)
            .await
            .expect("run")
            .is_empty()
    );
    for (row, repeats) in [(&resolved, 1), (&silenced, 0), (&unruled, 0)] {
        let after = reread(&app, row.id).await;
        assert_eq!(after.repeats, repeats, "{after:?}");
        assert_eq!(after.next_repeat_at, None, "{after:?}");
    }
}

async fn auto_resolve_closes_what_had_no_occurrence_for_its_interval(app: TestApp) {
    app.client("acme").await;
    let rule = timed_rule(&app, "*", json!(null), json!("30m")).await;
    let stale = store(&app, rule, "disk-1", Some("db/disk")).await;
    assert_eq!(stale.auto_resolve_after_seconds, Some(1800));
    let now = Utc::now();
    // 20 minutes on, an alert folds into it: it is not quiet since then.
    let fresh = store(&app, rule, "cpu-1", Some("web/cpu")).await;
    let mut active = fresh.clone().into_active_model();
    active.last_seen_at = Set(Some(now + Duration::minutes(20)));
    active.update(&app.db).await.expect("seen");

    assert!(
        auto_resolve_due(&app.db, &*current(&app).await, now + Duration::minutes(29))
            .await
            .expect("run")
            .is_empty()
    );
    let resolved = auto_resolve_due(&app.db, &*current(&app).await, now + Duration::minutes(31))
        .await
        .expect("run");
    assert_eq!(alerts(&resolved), ["disk-1"], "only the quiet one");
    let closed = reread(&app, stale.id).await;
    assert_eq!(
        closed.resolved_by.as_deref(),
        Some("auto-resolve: no occurrence for 30m")
    );
    assert_eq!(closed.resolution_status.as_deref(), Some("PENDING"));
    assert_eq!(closed.open_key, None, "the key is free");
    assert_eq!(reread(&app, fresh.id).await.resolved_at, None);
    // Run again: nothing more to do.
    assert!(
        auto_resolve_due(&app.db, &*current(&app).await, now + Duration::minutes(31))
            .await
            .expect("run")
            .is_empty()
    );
    let later = auto_resolve_due(&app.db, &*current(&app).await, now + Duration::minutes(51))
        .await
        .expect("run");
    assert_eq!(alerts(&later), ["cpu-1"]);
}

crate::on_both_backends!(
    intervals_are_parsed_shown_and_cleared,
    an_open_notification_repeats_once_per_interval_until_acknowledged,
    resolved_and_silenced_notifications_stop_repeating,
    auto_resolve_closes_what_had_no_occurrence_for_its_interval,
);
