//! Steps of `features/load_generation.feature`: a load generation job on the
//! alert-producer, followed to its end, and its alerts counted at the webhook.

use std::{collections::BTreeSet, time::Duration};

use cucumber::{then, when};
use serde_json::json;

use super::{Alerting, PATIENCE};

#[when(expr = "I start a load generation job of {int} alerts from {string} with seed {int}")]
async fn start_job(w: &mut Alerting, count: u64, source: String, seed: u64) {
    let url = format!("{}/api/v1/alerts/generate", w.platform.alert_producer);
    let (status, body) = w
        .call(
            reqwest::Method::POST,
            url,
            Some(json!({"count": count, "seed": seed, "sources": {source: 1}})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    w.job = Some(body);
}

#[then(expr = "the job completes having sent {int} alerts")]
async fn job_completes(w: &mut Alerting, count: u64) {
    let id = w
        .job
        .as_ref()
        .and_then(|j| j["job_id"].as_str())
        .expect("a job")
        .to_owned();
    let url = format!("{}/api/v1/alerts/generate/{id}", w.platform.alert_producer);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, status) = w.call(reqwest::Method::GET, url.clone(), None).await;
        if status["status"] == "completed" {
            assert_eq!(
                (status["sent"].as_u64(), status["errors"].as_u64()),
                (Some(count), Some(0))
            );
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[then(expr = "the webhook {string} receives {int} notifications from the job")]
async fn job_delivered(w: &mut Alerting, webhook: String, count: usize) {
    let path = w.name(&webhook);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while w.platform.sink.received(&path).len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count}",
            w.platform.sink.received(&path).len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: BTreeSet<String> = w.alert_ids_at(&path).into_iter().collect();
    assert_eq!(ids.len(), count, "one notification per generated alert");
}
