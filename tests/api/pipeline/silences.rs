//! Silences end to end, while alerts flow: alerts go out every 50 ms; a silence is
//! created, then expired. Every alert sent from 2 s after the silence was created until
//! it was expired is recorded SILENCED with the silence's id and delivered to no one;
//! every alert before it, and from 2 s after it expired, is delivered; none is lost.

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use alerting_test_support::sinks::HttpSink;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, Pipeline, fast_delivery};

/// The promise: a new or expired silence takes effect within this.
const TAKES_EFFECT: Duration = Duration::from_secs(2);

async fn a_silence_stops_deliveries_within_2_s_and_its_expiry_lets_them_through(mode: Mode) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(None)).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("hook")}))
        .await;
    p.wait_for_rules(1).await;

    let sent: Mutex<Vec<(String, Instant)>> = Mutex::default();
    let stop = tokio::sync::Notify::new();
    let stream = async {
        for n in 0.. {
            let id = format!("flow-{n:04}");
            let at = Instant::now();
            p.send(
                json!({"alert_id": id, "severity": "HIGH", "source": "db", "name": "slow queries"}),
            )
            .await;
            sent.lock().expect("lock").push((id, at));
            tokio::select! {
                () = stop.notified() => break,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    };
    let control = async {
        sink.wait_for("hook", 10).await;
        let silence = p
            .api(
                Method::POST,
                "/api/v1/silences",
                Some(json!({"client_id": "acme", "matchers": {"source": "db"}, "ends_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(), "comment": "known slowness"})),
            )
            .await;
        let silenced_from = Instant::now() + TAKES_EFFECT;
        let silence_id = silence["silence_id"].as_str().expect("id").to_owned();
        tokio::time::sleep(TAKES_EFFECT * 2).await;
        p.api(
            Method::POST,
            &format!("/api/v1/silences/{silence_id}/expire"),
            Some(json!({})),
        )
        .await;
        let expired_at = Instant::now();
        tokio::time::sleep(TAKES_EFFECT * 2).await;
        stop.notify_one();
        (silence_id, silenced_from, expired_at)
    };
    let ((), (silence_id, silenced_from, expired_at)) = tokio::join!(stream, control);

    let sent = sent.lock().expect("lock").clone();
    let notifications: BTreeMap<String, Value> = p
        .settled_notifications("acme", sent.len())
        .await
        .into_iter()
        .map(|n| (n["alert_id"].as_str().unwrap_or_default().to_owned(), n))
        .collect();
    let delivered: Vec<String> = sink
        .received("hook")
        .iter()
        .map(|r| {
            r.json()["alert"]["alert_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let (mut silenced, mut let_through) = (0, 0);
    for (id, at) in &sent {
        let n = &notifications[id];
        let status = n["status"].as_str().unwrap_or_default();
        let was_delivered = delivered.contains(id);
        if *at >= silenced_from && *at < expired_at {
            assert_eq!(status, "SILENCED", "{id} sent while silenced: {n:#}");
            assert_eq!(n["silenced_by"], silence_id.as_str());
            assert!(!was_delivered, "{id} was silenced yet delivered");
            silenced += 1;
        } else if *at >= expired_at + TAKES_EFFECT || *at + TAKES_EFFECT < silenced_from {
            assert_eq!(status, "SENT", "{id}: {n:#}");
            assert!(was_delivered, "{id}");
            let_through += 1;
        } else {
            // While it took effect: either, but nothing in between.
            assert!(
                (status == "SILENCED") != was_delivered,
                "{id}: {n:#} delivered: {was_delivered}"
            );
        }
    }
    assert!(
        silenced >= 10 && let_through >= 10,
        "{silenced} silenced, {let_through} delivered"
    );
}

on_both_modes!(a_silence_stops_deliveries_within_2_s_and_its_expiry_lets_them_through);
