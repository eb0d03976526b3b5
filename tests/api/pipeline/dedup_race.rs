//! Dedup keys on the bus: three aggregator processes share `alerts.matched`, whose
//! messages here are spread over every partition (as if from many evaluators), so
//! alerts with one key reach all three at once. Each key still makes one open
//! notification, delivered once, counting every alert.

use std::collections::BTreeMap;

use alerting::adapters::kafka::Kafka;
use alerting_entities::notifications;
use alerting_handlers::{
    events::topics,
    events::{AlertBody, AlertMatchedEvent},
    ports::{Bus, OutgoingMessage},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
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
