//! The test broker itself: a consumer group that resumes from its committed offsets
//! gets every message after them. (The registry's tansu 0.6.0 skipped 1,650 of 20,000
//! here; this catches a broker build like that before it hides a real bug.)

use std::{collections::BTreeSet, time::Duration};

use alerting::adapters::kafka::Kafka;
use alerting_handlers::ports::Subscription;
use alerting_handlers::ports::{Bus, OutgoingMessage};

use super::{Isolation, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resumes_after_its_committed_offsets() {
    const TOTAL: usize = 20_000;
    const FIRST: usize = 8_000;
    let isolation = Isolation::new();
    let config = isolation.kafka();
    let kafka = Kafka::connect(&config).await.expect("connected");
    kafka.create_topics().await.expect("topics");
    let bus = kafka.bus().expect("producer");
    for chunk in (0..TOTAL).collect::<Vec<_>>().chunks(2_000) {
        let messages = chunk
            .iter()
            .map(|i| {
                OutgoingMessage::new(
                    "alerts.new",
                    &format!("key-{i}"),
                    i.to_string().into_bytes(),
                )
            })
            .collect();
        bus.publish(messages).await.expect("published");
    }

    let payload = |d: &alerting_handlers::ports::IncomingMessage| -> usize {
        String::from_utf8_lossy(&d.payload)
            .parse()
            .expect("a number")
    };
    let mut first_seen = BTreeSet::new();
    {
        let mut consumer = kafka
            .subscribe("resume-check", "alerts.new")
            .expect("consumer");
        let read = tokio::time::timeout(PATIENCE, async {
            while first_seen.len() < FIRST {
                let batch = consumer
                    .next_batch(FIRST - first_seen.len())
                    .await
                    .expect("batch");
                for delivery in &batch {
                    assert!(
                        first_seen.insert(payload(delivery)),
                        "no duplicates within one consumer"
                    );
                }
                consumer.commit(&batch).await.expect("stored");
            }
        })
        .await;
        assert!(read.is_ok(), "read {} of {FIRST}", first_seen.len());
        consumer.close().await;
    }

    let mut rest = BTreeSet::new();
    let mut consumer = kafka
        .subscribe("resume-check", "alerts.new")
        .expect("consumer");
    let read = tokio::time::timeout(PATIENCE, async {
        while first_seen.len() + rest.len() < TOTAL {
            let batch = consumer.next_batch(1_000).await.expect("batch");
            for delivery in &batch {
                let n = payload(delivery);
                assert!(
                    !first_seen.contains(&n),
                    "message {n} came again after its offset was committed"
                );
                rest.insert(n);
            }
        }
    })
    .await;
    let missing = TOTAL - first_seen.len() - rest.len();
    assert!(
        read.is_ok(),
        "the resumed group never received {missing} messages"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(2), consumer.next_batch(10))
            .await
            .is_err(),
        "nothing beyond the {TOTAL} messages"
    );
}
