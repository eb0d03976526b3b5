//! Notifications as the API shows and handles them, over rows written straight into the
//! database as the aggregator and sender write them: lists and filters, one with its
//! deliveries, retries, what is announced again (stuck notifications, a redelivered
//! batch of matches), and the indexes the sender's lookups need on Postgres.

use alerting_entities::{deliveries, notifications};
use alerting_test_support::database::{Backend, TestDatabase};
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;

/// Writes a notification row as the aggregator will, straight into the database.
pub async fn insert_notification(
    app: &TestApp,
    client_id: &str,
    alert_id: &str,
    status: &str,
) -> notifications::Model {
    let at = Utc::now().trunc_subsecs(6);
    let model = notifications::Model {
        id: Uuid::new_v4(),
        client_id: client_id.to_owned(),
        alert_id: alert_id.to_owned(),
        severity: "HIGH".to_owned(),
        source: "payments".to_owned(),
        name: "card-declined".to_owned(),
        context: json!({"region": "eu-west-1"}),
        event_ts: at,
        rule_ids: json!([Uuid::new_v4()]),
        status: status.to_owned(),
        shared: true,
        created_at: at,
        updated_at: at,
        dedup_key: None,
        open_key: None,
        occurrences: 1,
        first_seen_at: Some(at),
        last_seen_at: Some(at),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolution_status: None,
        silenced_by: None,
        repeat_interval_seconds: None,
        auto_resolve_after_seconds: None,
        next_repeat_at: None,
        repeats: 0,
        repeat_status: None,
    };
    notifications::Entity::insert(model.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("insert notification");
    model
}

async fn an_empty_table_lists_nothing(app: TestApp) {
    let reply = app.get("/api/v1/notifications").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"items": [], "total": 0, "limit": 50, "offset": 0})
    );
    let missing = app
        .get(&format!("/api/v1/notifications/{}", Uuid::new_v4()))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    assert_eq!(app.get("/api/v1/notifications/zzz").await.status, 404);
}

async fn notifications_filter_by_client_status_and_alert(app: TestApp) {
    app.client("acme").await;
    app.client("other").await;
    let first = insert_notification(&app, "acme", "alert-1", "SENT").await;
    let second = insert_notification(&app, "acme", "alert-2", "FAILED").await;
    let third = insert_notification(&app, "other", "alert-1", "SENT").await;
    let ids = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|n| n["notification_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let all = app.get("/api/v1/notifications").await;
    assert_eq!(
        ids(&all),
        [
            third.id.to_string(),
            second.id.to_string(),
            first.id.to_string()
        ]
    );
    let acme = app.get("/api/v1/notifications?client_id=acme").await;
    assert_eq!(ids(&acme), [second.id.to_string(), first.id.to_string()]);
    let sent = app.get("/api/v1/notifications?status=sent").await;
    assert_eq!(ids(&sent), [third.id.to_string(), first.id.to_string()]);
    let by_alert = app
        .get("/api/v1/notifications?alert_id=alert-1&client_id=other")
        .await;
    assert_eq!(ids(&by_alert), [third.id.to_string()]);
    assert_eq!(by_alert.body["total"], 1);

    let bad = app.get("/api/v1/notifications?status=DONE").await;
    assert_eq!((bad.status, bad.field()), (422, "status"));
}

async fn a_notification_shows_its_alert_and_deliveries(app: TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "HIGH", "payments", "*").await;
    let endpoint = app
        .endpoint(
            rule["rule_id"].as_str().expect("id"),
            "webhook",
            "https://example.com/hook",
        )
        .await;
    let notification = insert_notification(&app, "acme", "alert-9", "FAILED").await;
    let at = Utc::now().trunc_subsecs(6);
    let delivery = deliveries::Model {
        id: Uuid::new_v4(),
        notification_id: notification.id,
        endpoint_id: Uuid::parse_str(endpoint["endpoint_id"].as_str().expect("id")).expect("uuid"),
        kind: "webhook".to_owned(),
        target: "https://example.com/hook".to_owned(),
        status: "FAILED".to_owned(),
        attempts: 5,
        last_error: Some("HTTP 503 Service Unavailable".to_owned()),
        last_http_status: Some(503),
        delivered_at: None,
        created_at: at,
        updated_at: at,
        phase: "firing".to_owned(),
    };
    deliveries::Entity::insert(delivery.clone().into_active_model().reset_all())
        .exec_without_returning(&app.db)
        .await
        .expect("insert delivery");

    let reply = app
        .get(&format!("/api/v1/notifications/{}", notification.id))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = &reply.body;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["client_id"], "acme");
    assert_eq!(body["alert"]["alert_id"], "alert-9");
    assert_eq!(body["alert"]["severity"], "HIGH");
    assert_eq!(body["alert"]["context"], json!({"region": "eu-west-1"}));
    assert_eq!(body["rule_ids"], notification.rule_ids);
    let deliveries = body["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["attempts"], 5);
    assert_eq!(deliveries[0]["last_http_status"], 503);
    assert_eq!(deliveries[0]["last_error"], "HTTP 503 Service Unavailable");
    assert_eq!(deliveries[0]["type"], "webhook");
    assert_eq!(deliveries[0]["delivered_at"], serde_json::Value::Null);
}

async fn stuck_notifications_are_announced_again(app: TestApp) {
    use alerting::adapters::in_process_bus::InProcessBus;
    use alerting_handlers::ports::Subscription;
    use alerting_handlers::{events::NotificationReadyEvent, jobs::redrive::redrive_stuck};
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};

    app.client("acme").await;
    let stuck = insert_notification(&app, "acme", "stuck", "PENDING").await;
    insert_notification(&app, "acme", "fresh", "PENDING").await;
    let finished = insert_notification(&app, "acme", "finished", "SENT").await;
    let long_ago = Utc::now() - chrono::Duration::minutes(10);
    notifications::Entity::update_many()
        .col_expr(notifications::Column::UpdatedAt, Expr::value(long_ago))
        .filter(notifications::Column::Id.is_in([stuck.id, finished.id]))
        .exec(&app.db)
        .await
        .expect("aged");

    let bus = InProcessBus::new(16);
    let mut ready = bus.subscribe("notifications.ready", "test");
    let threshold = std::time::Duration::from_secs(300);
    assert_eq!(
        redrive_stuck(&app.db, &bus, threshold, 100)
            .await
            .expect("redrive"),
        1
    );
    let batch = ready.next_batch(10).await.expect("announced");
    assert_eq!(batch.len(), 1);
    let event = NotificationReadyEvent::decode(&batch[0].payload).expect("decodes");
    assert_eq!(
        (event.notification_id, event.alert_id.as_str()),
        (stuck.id, "stuck")
    );
    // Announced once per threshold, not on every run.
    assert_eq!(
        redrive_stuck(&app.db, &bus, threshold, 100)
            .await
            .expect("redrive"),
        0
    );
}

async fn retrying_needs_a_bus_and_a_failed_notification(app: TestApp) {
    app.client("acme").await;
    let failed = insert_notification(&app, "acme", "a", "FAILED").await;
    let reply = app
        .post(
            &format!("/api/v1/notifications/{}/retry", failed.id),
            json!({}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (503, "unavailable"),
        "{reply:?}"
    );
    let reply = app
        .post(
            &format!("/api/v1/notifications/{}/retry", Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, 503, "the bus is checked first: {reply:?}");
}

/// A redelivered batch of matches (the aggregator crashed after storing it, before
/// announcing it) announces again the notifications still undelivered, and only those.
async fn redelivered_matches_announce_what_is_still_undelivered(app: TestApp) {
    use alerting_handlers::{
        events::NotificationReadyEvent,
        jobs::{aggregate::aggregate, timings::Timings},
    };
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};

    app.client("acme").await;
    app.client("globex").await;
    let matched = |client: &str, alert: &str| crate::helpers::matched(client, alert, None);
    let batch = vec![
        matched("acme", "a1"),
        matched("globex", "a1"),
        matched("acme", "a2"),
    ];
    let announced = |messages: Vec<alerting_handlers::ports::OutgoingMessage>| {
        let mut ids: Vec<(String, String, Uuid)> = messages
            .iter()
            .map(|m| NotificationReadyEvent::decode(&m.payload).expect("announcement"))
            .map(|e| (e.client_id, e.alert_id, e.notification_id))
            .collect();
        ids.sort();
        ids
    };

    let first = announced(
        aggregate(&app.db, &batch, &Timings::default())
            .await
            .expect("first time"),
    );
    assert_eq!(first.len(), 3, "{first:?}");
    // Another client's notification of the same alert, undelivered but not in the
    // batch: not the batch's to announce.
    app.client("initech").await;
    insert_notification(&app, "initech", "a1", "PENDING").await;
    let again = announced(
        aggregate(&app.db, &batch, &Timings::default())
            .await
            .expect("redelivered"),
    );
    assert_eq!(again, first, "the same notifications, announced again");

    let sent = first[0].2;
    notifications::Entity::update_many()
        .col_expr(notifications::Column::Status, Expr::value("SENT"))
        .filter(notifications::Column::Id.eq(sent))
        .exec(&app.db)
        .await
        .expect("mark one sent");
    let after = announced(
        aggregate(&app.db, &batch, &Timings::default())
            .await
            .expect("redelivered"),
    );
    assert_eq!(after, first[1..].to_vec(), "all but the delivered one");
    assert_eq!(
        notifications::Entity::find()
            .all(&app.db)
            .await
            .expect("rows")
            .len(),
        4,
        "no row twice"
    );
}

crate::on_both_backends!(
    redelivered_matches_announce_what_is_still_undelivered,
    stuck_notifications_are_announced_again,
    retrying_needs_a_bus_and_a_failed_notification,
    an_empty_table_lists_nothing,
    notifications_filter_by_client_status_and_alert,
    a_notification_shows_its_alert_and_deliveries,
);

/// The sender reads notifications, their rules' endpoints and their earlier deliveries
/// by a few hundred keys at a time, and writes statuses the same way. On tables
/// Postgres has no statistics for yet, its planner scans the whole table for such a
/// lookup; the sender's transactions rule that plan out.
#[tokio::test]
async fn the_senders_key_lookups_use_an_index_on_a_young_postgres_table() {
    use std::{collections::BTreeMap, time::Duration};

    use alerting::adapters::channels::Channels;
    use alerting_handlers::jobs::send::{
        DeliveryLimits, DeliveryPolicy, SendOutcome, send_notifications,
    };
    use sea_orm::{
        ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, QueryFilter, QuerySelect,
        QueryTrait, Statement,
    };

    /// Sequential and index scans of the sender's three tables so far. One connection,
    /// so that its pending counts are the ones flushed.
    async fn scans(db: &DatabaseConnection) -> BTreeMap<String, (i64, i64)> {
        db.execute_unprepared("SELECT pg_stat_force_next_flush()")
            .await
            .expect("flush statistics");
        db.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname::text, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables \
             WHERE relname IN ('notifications', 'deliveries', 'endpoints')",
        ))
        .await
        .expect("scan counts")
        .iter()
        .map(|row| {
            (
                row.try_get_by_index(0).expect("table"),
                (
                    row.try_get_by_index(1).expect("sequential scans"),
                    row.try_get_by_index(2).expect("index scans"),
                ),
            )
        })
        .collect()
    }

    let (_database, url) = TestDatabase::create(Backend::Postgres).await;
    // One connection: a lookup that went around the sender's transaction would wait
    // for it and fail, rather than run unguided on a second one.
    let db = alerting::db::connect_url(&url, 1).await.expect("connect");
    alerting::db::migrate(&db).await.expect("migrate");
    let rule_id = Uuid::new_v4();
    // Young for the whole test: no statistics, whenever autovacuum would wake up.
    for statement in [
        "ALTER TABLE notifications SET (autovacuum_enabled = false)".to_owned(),
        "ALTER TABLE deliveries SET (autovacuum_enabled = false)".to_owned(),
        "ALTER TABLE endpoints SET (autovacuum_enabled = false)".to_owned(),
        "INSERT INTO clients (id, created_at, updated_at) VALUES ('acme', now(), now())".to_owned(),
        format!(
            "INSERT INTO rules (id, client_id, severity, source, name, enabled, version, \
             created_at, updated_at) \
             VALUES ('{rule_id}', 'acme', 'HIGH', 'payments', '*', true, 1, now(), now())"
        ),
        // Disabled: the sender looks it up, finds nothing to deliver to, and delivers
        // nothing, so the test needs no receiver.
        format!(
            "INSERT INTO endpoints (id, rule_id, kind, value, enabled, created_at, updated_at) \
             VALUES (gen_random_uuid(), '{rule_id}', 'webhook', 'https://example.com/hook', \
             false, now(), now())"
        ),
        format!(
            "INSERT INTO notifications (id, client_id, alert_id, severity, source, name, \
             context, event_ts, rule_ids, status, created_at, updated_at) \
             SELECT gen_random_uuid(), 'acme', 'alert-' || g, 'HIGH', 'payments', \
             'card-declined', '{{}}', now(), '[\"{rule_id}\"]', 'PENDING', now(), now() \
             FROM generate_series(1, 20000) AS g"
        ),
    ] {
        db.execute_unprepared(&statement)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    let ids: Vec<Uuid> = notifications::Entity::find()
        .select_only()
        .column(notifications::Column::Id)
        .limit(500)
        .into_tuple()
        .all(&db)
        .await
        .expect("ids");

    // The plan this test guards against, as Postgres makes it unguided.
    let lookup = notifications::Entity::find()
        .filter(notifications::Column::Id.is_in(ids.iter().copied()))
        .build(DbBackend::Postgres);
    let plan: Vec<String> = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("EXPLAIN {}", lookup.sql),
            lookup.values.clone().map(|v| v.0).unwrap_or_default(),
        ))
        .await
        .expect("explain")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("plan line"))
        .collect();
    assert!(
        plan.iter().any(|line| line.contains("Seq Scan")),
        "the young table no longer gets the whole-table plan this test guards against: {plan:?}"
    );

    // The sender on its own: every scan counted between the two reads is its.
    let channels: std::sync::Arc<dyn alerting_handlers::ports::Channel> = std::sync::Arc::new(
        Channels::new(&crate::pipeline::fast_delivery(None), true).expect("channels"),
    );
    let policy = DeliveryPolicy {
        max_attempts: 1,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_millis(10),
        max_deliveries: 0,
    };
    let limits = std::sync::Arc::new(DeliveryLimits::new(8, 8));
    let before = scans(&db).await;
    let outcomes = send_notifications(&db, &channels, &policy, &limits, &Default::default(), &ids)
        .await
        .expect("send");
    assert_eq!(outcomes.len(), ids.len());
    assert!(
        outcomes.iter().all(|(_, outcome)| *outcome
            == SendOutcome::Finished(alerting_handlers::domain::NotificationStatus::NoEndpoints)),
        "{:?}",
        &outcomes[..3]
    );
    let after = scans(&db).await;
    for table in ["deliveries", "endpoints", "notifications"] {
        let (sequential, indexed) = after[table];
        let (sequential_before, indexed_before) = before[table];
        assert_eq!(
            (sequential - sequential_before, indexed > indexed_before),
            (0, true),
            "{table}: {} sequential and {} index scans by the sender",
            sequential - sequential_before,
            indexed - indexed_before
        );
    }
}
