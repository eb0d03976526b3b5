//! Embedded mode loses nothing on a crash: `alerting up` with no servers, fed a stream
//! of alerts, is killed (SIGKILL: no shutdown at all) at three random moments, then
//! stopped with SIGTERM, and started again on the same data folder each time. Every
//! alert that got a 202 is delivered to each endpoint under one notification and one
//! idempotency key, however often it was sent; none that was refused is. (The alerts
//! whose request the kill cut off got no answer: either is right for them.)

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alerting_test_support::{ADMIN_TOKEN, alerting_command, process::Running, sinks::HttpSink};
use serde_json::{Value, json};

const BATCH: usize = 50;
const ENDPOINTS: [&str; 2] = ["crash-a", "crash-b"];

/// `up` on `dir`'s data folder; its two addresses.
async fn up(dir: &std::path::Path) -> (Running, String, String) {
    let mut command = alerting_command!(dir);
    command.arg("up");
    let mut running = Running::start(command);
    let (rules, alerts) = running.addresses().await;
    (running, rules, alerts)
}

async fn post(url: String, body: Value) -> (u16, Value) {
    let reply = alerting::http_client::client()
        .post(url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// What the stream's alerts got: a 202, a refusal, or no answer (the kill cut it off).
#[derive(Default)]
struct Outcomes {
    accepted: BTreeSet<String>,
    refused: BTreeSet<String>,
    unanswered: BTreeSet<String>,
}

/// Posts batches of alerts to whatever alert-producer `address` holds, until `stop`
/// (or `most` alerts). A batch refused a connection (`up` restarting) is sent again.
async fn stream(
    address: Arc<Mutex<String>>,
    outcomes: Arc<Mutex<Outcomes>>,
    stop: Arc<AtomicBool>,
    most: usize,
) {
    let client = alerting::http_client::client();
    for first in (0..most).step_by(BATCH) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let ids: Vec<String> = (first..first + BATCH)
            .map(|n| format!("crash-{n}"))
            .collect();
        let body: Vec<Value> = ids
            .iter()
            .map(|id| json!({"alert_id": id, "severity": "HIGH", "source": "db", "name": "down"}))
            .collect();
        let outcome = loop {
            let url = format!("http://{}/api/v1/alerts", address.lock().expect("lock"));
            let sent = client
                .post(url)
                .bearer_auth(ADMIN_TOKEN)
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await;
            match sent {
                Err(err) if err.is_connect() => tokio::time::sleep(Duration::from_millis(20)).await,
                sent => break sent.map(|reply| reply.status().as_u16()),
            }
        };
        let mut outcomes = outcomes.lock().expect("lock");
        match outcome {
            Ok(202) => outcomes.accepted.extend(ids),
            Ok(_) => outcomes.refused.extend(ids),
            Err(_) => outcomes.unanswered.extend(ids),
        }
    }
}

#[tokio::test]
async fn alerts_accepted_before_a_sigkill_are_each_delivered_once_after_the_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = HttpSink::start().await;
    let (mut running, rules, alerts) = up(dir.path()).await;

    let (status, _) = post(
        format!("http://{rules}/api/v1/clients"),
        json!({"client_id": "acme"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, rule) = post(
        format!("http://{rules}/api/v1/rules"),
        json!({"client_id": "acme", "severity": "*", "source": "*", "name": "*"}),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    let rule_id = rule["rule_id"].as_str().expect("rule_id").to_owned();
    for path in ENDPOINTS {
        let (status, endpoint) = post(
            format!("http://{rules}/api/v1/rules/{rule_id}/endpoints"),
            json!({"type": "webhook", "value": sink.url(path)}),
        )
        .await;
        assert_eq!(status, 201, "{endpoint}");
    }
    // The rule is in effect once a first alert reaches both endpoints.
    let (status, _) = post(
        format!("http://{alerts}/api/v1/alerts"),
        json!({"alert_id": "probe", "severity": "HIGH", "source": "db", "name": "up"}),
    )
    .await;
    assert_eq!(status, 202);
    for path in ENDPOINTS {
        sink.wait_for(path, 1).await;
    }

    let address = Arc::new(Mutex::new(alerts));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let streaming = tokio::spawn(stream(
        address.clone(),
        outcomes.clone(),
        stop.clone(),
        30_000,
    ));
    // Three kills at random moments of the stream, each followed by a restart.
    let seed = uuid::Uuid::new_v4();
    for (kill, byte) in seed.as_bytes().iter().take(3).enumerate() {
        tokio::time::sleep(Duration::from_millis(100 + u64::from(*byte) * 3)).await;
        let accepted = outcomes.lock().expect("lock").accepted.len();
        eprintln!("kill {kill} after {accepted} accepted alerts (seed {seed})");
        running.kill().await;
        let (restarted, _, alerts) = up(dir.path()).await;
        running = restarted;
        *address.lock().expect("lock") = alerts;
    }
    // Then a stop as a service manager does it (SIGTERM), once the restarted `up` takes
    // alerts again: clean, and what it had not finished is done after the next start.
    let before = outcomes.lock().expect("lock").accepted.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while outcomes.lock().expect("lock").accepted.len() <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted up took nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = running.terminate().await;
    assert!(status.success(), "SIGTERM: {status}");
    let (restarted, _, alerts) = up(dir.path()).await;
    running = restarted;
    *address.lock().expect("lock") = alerts;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    streaming.await.expect("the stream ends");

    // The stream is over: what it recorded is final.
    let outcomes = std::mem::take(&mut *outcomes.lock().expect("lock"));
    eprintln!(
        "{} accepted, {} refused, {} unanswered",
        outcomes.accepted.len(),
        outcomes.refused.len(),
        outcomes.unanswered.len()
    );
    assert!(
        outcomes.accepted.len() > 1_000,
        "too few alerts were accepted to tell"
    );
    // Every accepted alert arrives at each endpoint: wait until it has.
    for path in ENDPOINTS {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let delivered: BTreeSet<String> = sink
                .received(path)
                .iter()
                .filter_map(|request| {
                    request.json()["alert"]["alert_id"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            let missing: Vec<&String> = outcomes.accepted.difference(&delivered).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path}: {} accepted alerts never delivered, e.g. {:?} (seed {seed})",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Once each: one notification and one idempotency key per alert and endpoint; and
    // nothing refused is delivered.
    for path in ENDPOINTS {
        let mut by_alert: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for request in sink.received(path) {
            let body = request.json();
            let alert = body["alert"]["alert_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let entry = by_alert.entry(alert).or_default();
            entry.0.insert(
                body["notification_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            entry.1.insert(
                request
                    .header("idempotency-key")
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        for (alert, (notifications, keys)) in &by_alert {
            assert_eq!(
                notifications.len(),
                1,
                "{path}: {alert} made {notifications:?}"
            );
            assert_eq!(keys.len(), 1, "{path}: {alert} was sent under {keys:?}");
            assert!(
                !outcomes.refused.contains(alert),
                "{path}: refused {alert} was delivered"
            );
        }
    }
    running.terminate().await;
}
