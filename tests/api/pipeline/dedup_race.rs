//! Dedup keys on the bus: three aggregator processes share `alerts.matched`, whose
//! messages here are spread over every partition (as if from many evaluators), so
//! alerts with one key reach all three at once. Each key still makes one open
//! notification, delivered once, counting every alert. And with three of each
//! service, every key's firing and resolved alerts apply in the order sent.

use std::collections::BTreeMap;

use alerting::adapters::kafka::Kafka;
use alerting_entities::notifications;
use alerting_handlers::{
    domain::{Alert, AlertParts},
    events::topics,
    events::{AlertBody, AlertEvent, AlertMatchedEvent},
    ports::{Bus, OutgoingMessage},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{PATIENCE, failover::OneRuleStack};

const KEYS: usize = 3;
const ALERTS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_aggregators_fold_each_key_into_one_notification() {
    let stack = OneRuleStack::start("race", None, &[]).await;
    let mut aggregators = Vec::new();
    for _ in 0..3 {
        let mut aggregator = stack.service(&["run", "aggregator"]);
        aggregator.wait_for_line("aggregator started").await;
        aggregators.push(aggregator);
    }
    let mut sender = stack.service(&["run", "sender"]);
    sender.wait_for_line("sender started").await;

    let rule: Uuid = stack.rule.parse().expect("rule id");
    let messages: Vec<OutgoingMessage> = (0..ALERTS)
        .map(|i| {
            let event = AlertMatchedEvent {
                schema_version: 1,
                alert: AlertBody {
                    owner: None,
                    alert_id: format!("race-{i}"),
                    event_ts: chrono::Utc::now(),
                    severity: "HIGH".to_owned(),
                    source: "db".to_owned(),
                    name: "disk full".to_owned(),
                    context: Default::default(),
                    dedup_key: Some(format!("key-{}", i % KEYS)),
                    status: Default::default(),
                },
                client_id: "acme".to_owned(),
                rule_ids: vec![rule],
            };
            // A key of its own per message: spread over every partition.
            OutgoingMessage::new(
                topics::ALERTS_MATCHED,
                &format!("spread-{i}"),
                serde_json::to_vec(&event).expect("encoded"),
            )
        })
        .collect();
    Kafka::unchecked(&stack.kafka_config)
        .bus()
        .expect("producer")
        .publish(messages)
        .await
        .expect("published");

    let db = stack.rules.connect().await;
    let counted = tokio::time::timeout(PATIENCE, async {
        loop {
            let rows = notifications::Entity::find()
                .filter(notifications::Column::ClientId.eq("acme"))
                .all(&db)
                .await
                .expect("rows");
            let total: i32 = rows.iter().map(|n| n.occurrences).sum();
            if total as usize == ALERTS && rows.iter().all(|n| n.status == "SENT") {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("every alert counted, every notification sent");
    let by_key: BTreeMap<Option<String>, usize> =
        counted.iter().fold(BTreeMap::new(), |mut keys, n| {
            *keys.entry(n.open_key.clone()).or_default() += 1;
            keys
        });
    assert_eq!(by_key.len(), KEYS, "{by_key:?}");
    assert!(by_key.values().all(|open| *open == 1), "{by_key:?}");
    // Every notification is SENT and folded alerts are never announced: all the
    // deliveries there will be have been made.
    assert_eq!(
        stack.sink.received("race").len(),
        KEYS,
        "one delivery per key"
    );
    for aggregator in aggregators {
        assert!(aggregator.terminate().await.0.success());
    }
    assert!(sender.terminate().await.0.success());
}

/// Each key fires twice, resolves, fires twice, resolves and fires again.
const LIFE: [(&str, bool); 7] = [
    ("a", false),
    ("b", false),
    ("c", true),
    ("d", false),
    ("e", false),
    ("f", true),
    ("g", false),
];

/// Three of each service, alerts on `alerts.new` as the alert-producer publishes them:
/// every key's firing and resolved alerts are applied in the order they were sent. Its
/// alerts share a partition key (the owner and the dedup key), so they reach one
/// evaluator in order; it publishes each client's matches to one partition, in order,
/// and one aggregator applies them in order. A batch redelivered by a rebalance finds
/// its alerts recorded (notifications, occurrences, the resolving alert) and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_each_service_apply_each_keys_alerts_in_the_order_sent() {
    const KEYS: usize = 12;
    let stack = OneRuleStack::start("lives", None, &[]).await;
    let updater = stack.updater().await;
    let mut services = Vec::new();
    for (service, ready) in [
        ("evaluator", "matching with rule snapshot"),
        ("aggregator", "aggregator started"),
        ("sender", "sender started"),
    ] {
        for _ in 0..3 {
            let mut running = stack.service(&["run", service]);
            running.wait_for_line(ready).await;
            services.push(running);
        }
    }
    let messages: Vec<OutgoingMessage> = LIFE
        .iter()
        .flat_map(|(step, resolved)| {
            (0..KEYS).map(move |key| {
                let alert = Alert::parse(
                    AlertParts {
                        alert_id: Some(&format!("k{key}-{step}")),
                        severity: "HIGH",
                        source: "db",
                        name: "disk full",
                        dedup_key: Some(&format!("key-{key}")),
                        status: Some(if *resolved { "resolved" } else { "firing" }),
                        ..AlertParts::default()
                    },
                    chrono::Utc::now(),
                )
                .expect("valid");
                AlertEvent::message(&alert)
            })
        })
        .collect();
    Kafka::unchecked(&stack.kafka_config)
        .bus()
        .expect("producer")
        .publish(messages)
        .await
        .expect("published");

    let db = stack.rules.connect().await;
    let settled = tokio::time::timeout(PATIENCE, async {
        loop {
            let rows = notifications::Entity::find()
                .filter(notifications::Column::ClientId.eq("acme"))
                .order_by_asc(notifications::Column::Id)
                .all(&db)
                .await
                .expect("rows");
            let done = rows.len() == 3 * KEYS
                && rows.iter().all(|n| {
                    n.status == "SENT" && n.resolution_status.as_deref().is_none_or(|s| s == "SENT")
                })
                && rows.iter().filter(|n| n.resolved_at.is_some()).count() == 2 * KEYS;
            if done {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("three notifications per key, two resolved, every delivery made");
    for key in 0..KEYS {
        let life: Vec<(String, i32, Option<String>, bool)> = settled
            .iter()
            .filter(|n| n.dedup_key.as_deref() == Some(&format!("key-{key}")))
            .map(|n| {
                (
                    n.alert_id.clone(),
                    n.occurrences,
                    n.resolved_by.clone(),
                    n.open_key.is_some(),
                )
            })
            .collect();
        let expected = |step: &str, occurrences, resolved_by: Option<&str>| {
            (
                format!("k{key}-{step}"),
                occurrences,
                resolved_by.map(|by| format!("alert k{key}-{by}")),
                resolved_by.is_none(),
            )
        };
        assert_eq!(
            life,
            [
                expected("a", 2, Some("c")),
                expected("d", 2, Some("f")),
                expected("g", 1, None),
            ],
            "key-{key}"
        );
    }
    // Three notifications and two resolutions per key, each delivered once.
    let received = stack.sink.wait_for("lives", 5 * KEYS).await;
    let keys: std::collections::BTreeSet<&str> = received
        .iter()
        .filter_map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys.len(), 5 * KEYS, "no delivery twice");
    for running in services.into_iter().chain([updater]) {
        assert!(running.terminate().await.0.success());
    }
}
