//! Back-pressure in embedded mode: `alerting up` whose pipeline is behind by
//! INGEST_MAX_BACKLOG messages answers ingestion 503 with Retry-After and takes nothing
//! of the request; once the pipeline has caught up it takes alerts again, and every
//! alert it took is delivered while none it refused is.

use std::{collections::BTreeSet, time::Duration};

use alerting_test_support::{
    ADMIN_TOKEN, alerting_command,
    process::Running,
    sinks::{Answer, HttpSink},
};
use serde_json::{Value, json};

/// The pipeline may be this many messages behind.
const MAX_BACKLOG: usize = 10;
/// Alerts of the first batch: more than the pipeline may hold, so that while the
/// sender holds them the backlog is over the limit.
const FIRST: usize = 12;

async fn post(url: &str, body: &Value) -> reqwest::Response {
    alerting::http_client::client()
        .post(url)
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .expect("sent")
}

fn alerts(prefix: &str, count: usize) -> Value {
    (0..count)
        .map(|n| json!({"alert_id": format!("{prefix}-{n}"), "severity": "HIGH", "source": "db", "name": "down"}))
        .collect()
}

/// The body of a 503 that asks for a retry in a second.
async fn refused_with_retry_after(reply: reqwest::Response) -> Value {
    assert_eq!(reply.status(), 503);
    let retry_after = reply.headers().get("retry-after").cloned();
    assert_eq!(
        retry_after.as_ref().and_then(|v| v.to_str().ok()),
        Some("1")
    );
    reply.json().await.expect("json body")
}

fn delivered(sink: &HttpSink) -> BTreeSet<String> {
    sink.received("held")
        .iter()
        .filter_map(|request| {
            request.json()["alert"]["alert_id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_pipeline_behind_by_the_limit_refuses_with_retry_after_and_takes_again_once_caught_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start().await;
    let mut command = alerting_command!(dir.path());
    command
        .arg("up")
        .env("INGEST_MAX_BACKLOG", MAX_BACKLOG.to_string())
        .env("INGEST_BACKLOG_WAIT", "0s")
        // The sender holds a batch until its slowest delivery is done, so that a
        // receiver that hangs keeps the pipeline behind for as long as it hangs.
        .env("SENDER_BATCH_WAIT", "60s")
        .env("DELIVERY_TIMEOUT", "60s");
    let mut running = Running::start(command);
    let (rules, ingest) = running.addresses().await;
    let ingest = format!("http://{ingest}/api/v1/alerts");

    let reply = post(
        &format!("http://{rules}/api/v1/clients"),
        &json!({"client_id": "acme"}),
    )
    .await;
    assert_eq!(reply.status(), 201);
    let rule: Value = post(
        &format!("http://{rules}/api/v1/rules"),
        &json!({"client_id": "acme", "severity": "*", "source": "*", "name": "*"}),
    )
    .await
    .json()
    .await
    .expect("rule");
    let rule_id = rule["rule_id"].as_str().expect("rule_id");
    let reply = post(
        &format!("http://{rules}/api/v1/rules/{rule_id}/endpoints"),
        &json!({"type": "webhook", "value": sink.url("held")}),
    )
    .await;
    assert_eq!(reply.status(), 201);
    let key: Value = post(
        &format!("http://{rules}/api/v1/clients/acme/keys"),
        &json!({"name": "pagerduty", "scopes": ["ingest"]}),
    )
    .await
    .json()
    .await
    .expect("key");
    let key = key["key"].as_str().expect("key").to_owned();
    // The rule is in effect once a first alert is delivered.
    assert_eq!(post(&ingest, &alerts("probe", 1)).await.status(), 202);
    sink.wait_for("held", 1).await;

    // The receiver holds each of the first batch's deliveries until the gate opens: the
    // sender holds the batch, and the pipeline stays FIRST messages behind meanwhile.
    let (gate, held) = tokio::sync::watch::channel(false);
    sink.script("held", vec![Answer::Wait(held); FIRST]);
    assert_eq!(post(&ingest, &alerts("first", FIRST)).await.status(), 202);
    sink.wait_for("held", 2).await;

    let refused = post(&ingest, &alerts("refused", 3)).await;
    let body = refused_with_retry_after(refused).await;
    assert_eq!(body["error"]["code"], "backlogged", "{body}");
    assert_eq!(body["error"]["limit"], "INGEST_MAX_BACKLOG", "{body}");
    // PagerDuty's route says the same in PagerDuty's shape, so its clients retry.
    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "refused-pd",
                       "payload": {"summary": "refused", "source": "db", "severity": "critical"}});
    let refused = post(&ingest.replace("/api/v1/alerts", "/v2/enqueue"), &event).await;
    let body = refused_with_retry_after(refused).await;
    assert_eq!(body["status"], "unavailable", "{body}");

    // The receiver answers; as a client should, wait as told, and send again, until the
    // pipeline has room.
    gate.send_replace(true);
    let later = alerts("later", 3);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reply = post(&ingest, &later).await;
        match reply.status().as_u16() {
            202 => break,
            503 => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the pipeline never caught up"
                );
                let wait = alerting::http_client::retry_after(&reply).expect("Retry-After");
                tokio::time::sleep(wait).await;
            }
            status => panic!("unexpected HTTP {status}"),
        }
    }

    // Everything taken is delivered; what was refused is not (it was sent before
    // `later`, which has arrived).
    let wanted: BTreeSet<String> = (0..FIRST)
        .map(|n| format!("first-{n}"))
        .chain((0..3).map(|n| format!("later-{n}")))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !wanted.is_subset(&delivered(&sink)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {:?}",
            wanted.difference(&delivered(&sink)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused_delivered: Vec<String> = delivered(&sink)
        .into_iter()
        .filter(|id| id.starts_with("refused-"))
        .collect();
    assert!(
        refused_delivered.is_empty(),
        "refused alerts delivered: {refused_delivered:?}"
    );
    running.kill().await;
}
