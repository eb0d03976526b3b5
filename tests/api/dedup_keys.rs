//! Dedup keys where they are enforced: the aggregator's handler on the database. Alerts
//! with one key make one open notification per client, counted as occurrences, however
//! they arrive: in one batch, in batches one after another, in batches of three
//! aggregators at once, or redelivered. The unique index on (client, open key) is what
//! holds it: with the index dropped, three aggregators at once open the key thrice.

use std::collections::BTreeSet;

use alerting_entities::{notifications, occurrences};
use alerting_handlers::{
    events::{AlertMatchedEvent, NotificationReadyEvent},
    jobs::{aggregate::aggregate, timings::Timings},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::helpers::{TestApp, matched};

/// The notifications announced by one run of the handler.
async fn announced(app: &TestApp, batch: &[AlertMatchedEvent]) -> BTreeSet<String> {
    aggregate(&app.db, batch, &Timings::default())
        .await
        .expect("aggregated")
        .iter()
        .map(|m| NotificationReadyEvent::decode(&m.payload).expect("announcement"))
        .map(|e| e.alert_id)
        .collect()
}

async fn client_notifications(app: &TestApp, client: &str) -> Vec<notifications::Model> {
    notifications::Entity::find()
        .filter(notifications::Column::ClientId.eq(client))
        .all(&app.db)
        .await
        .expect("rows")
}

async fn one_key_makes_one_notification_counting_every_distinct_alert(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    // One batch: two alerts with the key, one without, and the key at another client.
    let first = announced(
        &app,
        &[
            matched("acme", "a1", Some("disk:db1")),
            matched("acme", "a2", Some("disk:db1")),
            matched("acme", "plain", None),
            matched("globex", "a1", Some("disk:db1")),
        ],
    )
    .await;
    assert_eq!(
        first,
        BTreeSet::from(["a1".to_owned(), "plain".to_owned()]),
        "a1 twice (acme's and globex's), plain once; a2 folded"
    );
    // Later batches: a new alert with the key, a redelivered folded one, a redelivered
    // first one, another key.
    let later = announced(
        &app,
        &[
            matched("acme", "a3", Some("disk:db1")),
            matched("acme", "a2", Some("disk:db1")),
            matched("acme", "a1", Some("disk:db1")),
            matched("acme", "b1", Some("disk:db2")),
        ],
    )
    .await;
    assert!(
        later.contains("b1") && !later.contains("a3") && !later.contains("a2"),
        "{later:?}"
    );
    let acme = client_notifications(&app, "acme").await;
    let keyed: Vec<&notifications::Model> = acme
        .iter()
        .filter(|n| n.dedup_key.as_deref() == Some("disk:db1"))
        .collect();
    assert_eq!(keyed.len(), 1, "one notification for the key: {acme:#?}");
    assert_eq!(keyed[0].alert_id, "a1");
    assert_eq!(
        keyed[0].occurrences, 3,
        "a1, a2, a3; a2 and a1 again not counted"
    );
    assert!(keyed[0].last_seen_at >= keyed[0].first_seen_at);
    assert_eq!(acme.len(), 3, "disk:db1, disk:db2, plain");
    let globex = client_notifications(&app, "globex").await;
    assert_eq!(globex.len(), 1, "a key is its client's own");
    assert_eq!(globex[0].occurrences, 1);
    let folded = occurrences::Entity::find()
        .filter(occurrences::Column::NotificationId.eq(keyed[0].id))
        .all(&app.db)
        .await
        .expect("occurrences");
    let folded: BTreeSet<&str> = folded.iter().map(|o| o.alert_id.as_str()).collect();
    assert_eq!(folded, BTreeSet::from(["a2", "a3"]));
}

/// The batch's first alert with a key cannot open (its alert was stored before, without
/// the key): the next one with the key opens the notification instead of being lost.
async fn a_key_whose_first_alert_was_stored_before_still_opens(app: TestApp) {
    app.client("acme").await;
    announced(&app, &[matched("acme", "a1", None)]).await;
    let opened = announced(
        &app,
        &[
            matched("acme", "a1", Some("k")),
            matched("acme", "a2", Some("k")),
            matched("acme", "a3", Some("k")),
        ],
    )
    .await;
    assert!(opened.contains("a2"), "{opened:?}");
    let keyed: Vec<notifications::Model> = client_notifications(&app, "acme")
        .await
        .into_iter()
        .filter(|n| n.open_key.as_deref() == Some("k"))
        .collect();
    assert_eq!(keyed.len(), 1, "{keyed:#?}");
    assert_eq!(keyed[0].alert_id, "a2");
    assert_eq!(keyed[0].occurrences, 2, "a2 and a3");
}

/// Three aggregators, each with a batch of its own alerts with one key, at once.
async fn three_aggregators_at_once_open_one_notification(app: TestApp) {
    app.client("acme").await;
    for round in 0..5 {
        let key = format!("race-{round}");
        let batches: Vec<Vec<AlertMatchedEvent>> = (0..3)
            .map(|instance| {
                (0..20)
                    .map(|i| matched("acme", &format!("r{round}-{instance}-{i}"), Some(&key)))
                    .collect()
            })
            .collect();
        let none = Timings::default();
        let runs = batches.iter().map(|batch| aggregate(&app.db, batch, &none));
        for result in futures_util::future::join_all(runs).await {
            result.expect("each run stores or folds, none fails on the index");
        }
        // And every batch redelivered (a crash before the commit of its offsets).
        for batch in &batches {
            aggregate(&app.db, batch, &Timings::default())
                .await
                .expect("redelivered");
        }
        let open: Vec<notifications::Model> = client_notifications(&app, "acme")
            .await
            .into_iter()
            .filter(|n| n.open_key.as_deref() == Some(key.as_str()))
            .collect();
        assert_eq!(open.len(), 1, "round {round}: {open:#?}");
        assert_eq!(open[0].occurrences, 60, "round {round}: every alert once");
    }
}

/// The guarantee's other half: without the unique index, nothing else stops three
/// aggregators that each found the key closed from opening it three times (code alone
/// sees only what was stored when it looked).
async fn without_the_unique_index_a_key_opens_twice(app: TestApp) {
    app.client("acme").await;
    app.owner_db
        .execute_unprepared(&format!(
            "DROP INDEX {}",
            alerting_migration::OPEN_KEY_INDEX
        ))
        .await
        .expect("index dropped");
    // Whether two of three at once both look before either writes is up to the
    // scheduler (with fast round trips, most rounds run one after another): up to 500
    // keys, until one opens twice, which takes a few rounds.
    for round in 0..500 {
        let key = format!("k{round}");
        let batches: Vec<Vec<AlertMatchedEvent>> = (0..3)
            .map(|instance| vec![matched("acme", &format!("r{round}-{instance}"), Some(&key))])
            .collect();
        let none = Timings::default();
        let runs = batches.iter().map(|batch| aggregate(&app.db, batch, &none));
        for result in futures_util::future::join_all(runs).await {
            result.expect("stored");
        }
        let open = client_notifications(&app, "acme")
            .await
            .into_iter()
            .filter(|n| n.open_key.as_deref() == Some(key.as_str()))
            .count();
        if open > 1 {
            return;
        }
    }
    panic!("500 keys, each opened once by three aggregators at once, without the index");
}

crate::on_both_backends!(
    one_key_makes_one_notification_counting_every_distinct_alert,
    a_key_whose_first_alert_was_stored_before_still_opens,
    three_aggregators_at_once_open_one_notification,
    without_the_unique_index_a_key_opens_twice,
);
