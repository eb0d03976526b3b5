//! One tenant's receivers cannot slow another's deliveries: with sixteen webhooks of
//! tenant A on one host that never answers (URLs differing only in their query
//! string), tenant B's alerts, one a second, are delivered within a second of the time
//! they take with A quiet.

use std::time::{Duration, Instant};

use alerting_test_support::sinks::{Answer, HttpSink};
use serde_json::json;

use super::tenancy::{post_as, tenant};
use super::{Mode, Pipeline, fast_delivery};

async fn post(p: &Pipeline, key: &str, alert_id: &str) {
    post_as(
        p,
        key,
        json!({"alert_id": alert_id, "severity": "HIGH", "source": "db", "name": "down"}),
    )
    .await;
}

/// B posts `count` alerts, one a second; returns how long each took to reach B's
/// receiver.
async fn b_latencies(
    p: &Pipeline,
    key: &str,
    sink: &HttpSink,
    prefix: &str,
    count: usize,
) -> Vec<Duration> {
    let before = sink.received("b").len();
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for n in 0..count {
        tick.tick().await;
        sent.push((format!("{prefix}-{n}"), Instant::now()));
        post(p, key, &sent[n].0).await;
    }
    let received = sink.wait_for("b", before + count).await;
    sent.iter()
        .map(|(id, at)| {
            let arrived = received
                .iter()
                .find(|r| r.json()["alert"]["alert_id"] == id.as_str())
                .unwrap_or_else(|| panic!("{id} never reached B"));
            arrived.at.duration_since(*at)
        })
        .collect()
}

async fn a_hanging_tenant_does_not_delay_another(mode: Mode) {
    let slow = HttpSink::start().await;
    let fast = HttpSink::start().await;
    slow.script("hang", vec![Answer::Hang(Duration::from_secs(60)); 100_000]);
    // The production defaults where they matter here: a 10 s timeout, two batches in
    // flight, the breaker's 10 failures and 30 s.
    let delivery = alerting::config::DeliveryConfig {
        delivery_timeout: Duration::from_secs(10),
        sender_concurrency: 64,
        sender_batches_in_flight: 2,
        circuit_breaker_failures: 10,
        circuit_breaker_cooldown: Duration::from_secs(30),
        ..fast_delivery(None)
    };
    let p = Pipeline::start_with(mode, delivery).await;
    let (a_rule, a_key) = tenant(&p, "noisy", false).await;
    let a_second_rule = p.rule("noisy", "HIGH", "*", "*").await;
    for n in 0..16 {
        let rule = if n < 8 { &a_rule } else { &a_second_rule };
        p.endpoint(
            rule,
            json!({"type": "webhook", "value": slow.url(&format!("hang?n={n}"))}),
        )
        .await;
    }
    let (b_rule, b_key) = tenant(&p, "quiet", false).await;
    p.endpoint(&b_rule, json!({"type": "webhook", "value": fast.url("b")}))
        .await;
    p.wait_for_rules(3).await;

    let normal = b_latencies(&p, &b_key, &fast, "calm", 5).await;
    let normal_max = normal.iter().max().copied().unwrap_or_default();

    // A streams alerts, each to its sixteen hanging URLs, while B goes on.
    let stream = {
        let p = &p;
        let a_key = a_key.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            for n in 0..48 {
                tick.tick().await;
                post(p, &a_key, &format!("noise-{n}")).await;
            }
        }
    };
    let (loaded, ()) = tokio::join!(b_latencies(&p, &b_key, &fast, "busy", 10), stream);
    assert!(
        slow.received("hang").len() >= 16,
        "A's receiver was never reached: the test tests nothing"
    );
    let worst = loaded.iter().max().copied().unwrap_or_default();
    println!("B's deliveries took {normal:?} with A quiet, {loaded:?} with A hanging");
    assert!(
        worst <= normal_max + Duration::from_secs(1),
        "B waited {worst:?} with A hanging, {normal_max:?} at most without: {loaded:?} vs {normal:?}"
    );
}

on_both_modes!(a_hanging_tenant_does_not_delay_another);
