//! Steps of `features/rule_changes.feature`: a stream of alerts that keeps flowing
//! while a rule is created or disabled, and which of its alerts reach the webhook
//! after the change.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use cucumber::{given, then, when};
use serde_json::json;

use super::{Alerting, PATIENCE, Stream};

impl Alerting {
    /// Lets the stream run two more seconds, stops it, and returns the alerts it sent
    /// in them.
    async fn stream_for_two_more_seconds(&mut self) -> BTreeSet<String> {
        let stream = self.stream.take().expect("a stream");
        *stream.sent_after_mark.lock().expect("lock") = Some(Vec::new());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = stream.stop.send(true);
        let sent: BTreeSet<String> = stream
            .sent_after_mark
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        assert!(sent.len() >= 5, "the stream kept flowing: {}", sent.len());
        sent
    }

    /// The alerts a webhook has received so far.
    fn alert_ids_received(&self, webhook: &str) -> BTreeSet<String> {
        self.alert_ids_of(webhook).into_iter().collect()
    }
}

#[given(expr = "alerts keep arriving from {string}")]
async fn stream(w: &mut Alerting, source: String) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let sent_after_mark: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
    let (platform, prefix, marks) = (
        w.platform.clone(),
        w.prefix.clone(),
        sent_after_mark.clone(),
    );
    tokio::spawn(async move {
        let mut n = 0;
        while !*stopped.borrow_and_update() {
            let id = format!("{prefix}-stream-{n}");
            let body =
                json!({"alert_id": id, "severity": "MEDIUM", "source": source, "name": "tick"});
            let sent = platform
                .http
                .post(format!("{}/api/v1/alerts", platform.alert_producer))
                .json(&body)
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().as_u16() == 202)
                && let Some(after) = marks.lock().expect("lock").as_mut()
            {
                after.push(id);
            }
            n += 1;
            tokio::select! {
                _ = stopped.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
    w.stream = Some(Stream {
        sent_after_mark,
        stop,
    });
}

#[when(
    expr = "I give {string} a rule {string} for source {string} that sends to the webhook {string}"
)]
async fn rule_while_streaming(
    w: &mut Alerting,
    client: String,
    alias: String,
    source: String,
    webhook: String,
) {
    w.create_rule(&client, &alias, "*", &source, "*", true)
        .await;
    let url = w.platform.sink.url(&w.name(&webhook));
    w.add_endpoint(&alias, json!({"type": "webhook", "value": url}))
        .await;
}

#[then(expr = "every alert of the stream sent from then on reaches the webhook {string}")]
async fn stream_delivered(w: &mut Alerting, webhook: String) {
    let expected = w.stream_for_two_more_seconds().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = w.alert_ids_received(&webhook);
        if expected.is_subset(&got) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing: {:?}",
            expected.difference(&got).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[given(expr = "the webhook {string} is receiving the stream")]
async fn receiving_stream(w: &mut Alerting, webhook: String) {
    w.platform.sink.wait_for(&w.name(&webhook), 1).await;
}

#[then(expr = "no alert of the stream sent from then on reaches the webhook {string}")]
async fn stream_stopped(w: &mut Alerting, webhook: String) {
    let after = w.stream_for_two_more_seconds().await;
    // Whatever was still on its way has arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = w.alert_ids_received(&webhook);
    let late: Vec<&String> = got.intersection(&after).collect();
    assert!(late.is_empty(), "delivered after the change: {late:?}");
}
