//! The load: alerts sent through the alert-producer from many connections (paced at a
//! rate when one is given), and the probe of how soon a rule change is matched.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use super::receiver::Arrivals;
use super::workload::{AlertSpec, RuleSpec};
use super::{platform::Platform, setup::post};
use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
pub(super) struct AlertJson<'a> {
    alert_id: String,
    severity: &'a str,
    source: &'a str,
    name: &'a str,
    event_ts: String,
    context: HashMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dedup_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

pub(super) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn alert_json<'a>(id: String, spec: &'a AlertSpec) -> AlertJson<'a> {
    AlertJson {
        alert_id: id,
        severity: spec.severity,
        source: &spec.source,
        name: &spec.name,
        event_ts: now_rfc3339(),
        context: HashMap::from([("origin", "alerting bench")]),
        dedup_key: spec.dedup_key.map(|key| format!("key-{key}")),
        status: spec.resolved.then_some("resolved"),
    }
}

/// An alert that `rule` matches.
pub(super) fn alert_for(rule: &RuleSpec) -> AlertSpec {
    let severity = match rule.severity.as_str() {
        "LOW" => "LOW",
        "MEDIUM" => "MEDIUM",
        "CRITICAL" => "CRITICAL",
        _ => "HIGH",
    };
    AlertSpec {
        severity,
        source: rule.source.clone(),
        name: if rule.name == "*" {
            "check-any".to_owned()
        } else {
            rule.name.clone()
        },
        dedup_key: None,
        resolved: false,
    }
}

/// The run's batches: `(index of the first alert, [(index, alert)])`.
type Batch<'a> = (usize, Vec<(usize, &'a AlertSpec)>);

/// How batches reach the workers: from one queue, each to whoever is free; or, with
/// dedup keys, each key's alerts in one worker's lane, sent one batch after the other,
/// so that they arrive (and apply) in the order of the run.
enum Lanes<'a> {
    Shared(Vec<Batch<'a>>),
    Keyed(Vec<Vec<Batch<'a>>>),
}

fn to_batches(alerts: Vec<(usize, &AlertSpec)>, batch: usize) -> Vec<Batch<'_>> {
    alerts
        .chunks(batch)
        .map(|chunk| (chunk.first().map_or(0, |(n, _)| *n), chunk.to_vec()))
        .collect()
}

fn lanes(alerts: &[AlertSpec], batch: usize, workers: usize) -> Lanes<'_> {
    if alerts.iter().all(|a| a.dedup_key.is_none()) {
        return Lanes::Shared(to_batches(alerts.iter().enumerate().collect(), batch));
    }
    let mut lanes: Vec<Vec<(usize, &AlertSpec)>> = vec![Vec::new(); workers];
    for (n, alert) in alerts.iter().enumerate() {
        lanes[alert.dedup_key.unwrap_or(n) % workers].push((n, alert));
    }
    Lanes::Keyed(
        lanes
            .into_iter()
            .map(|lane| to_batches(lane, batch))
            .collect(),
    )
}

pub(super) struct Ingest {
    pub(super) requests: Vec<i64>,
    pub(super) seconds: f64,
    pub(super) failures: usize,
    /// Requests the platform held back (429, or 503 with Retry-After), each sent again
    /// after the wait it asked for.
    pub(super) held_back: usize,
}

/// Sends the run's alerts from `connections` workers, paced when a rate is given.
pub(super) async fn send_alerts(
    http: &reqwest::Client,
    producers: &[String],
    alerts: &[AlertSpec],
    run: &str,
    batch: usize,
    rate: Option<f64>,
    connections: usize,
) -> Ingest {
    let lanes = lanes(alerts, batch, connections.max(1));
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let held_back = AtomicUsize::new(0);
    let started = Instant::now();
    let reported = AtomicUsize::new(0);
    let workers = (0..connections.max(1)).map(|worker| {
        let (lanes, next, failures, held_back, reported) =
            (&lanes, &next, &failures, &held_back, &reported);
        let url = format!(
            "{}/api/v1/alerts",
            producers[worker % producers.len().max(1)]
        );
        async move {
            let mut requests = Vec::new();
            let mut own = 0;
            loop {
                let batch = match lanes {
                    Lanes::Shared(batches) => batches.get(next.fetch_add(1, Ordering::Relaxed)),
                    Lanes::Keyed(lanes) => {
                        own += 1;
                        lanes[worker].get(own - 1)
                    }
                };
                let Some((first, chunk)) = batch else {
                    return requests;
                };
                let (first, chunk) = (*first, chunk);
                if let Some(rate) = rate {
                    let due = Duration::from_secs_f64(first as f64 / rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                loop {
                    let body: Vec<AlertJson<'_>> = chunk
                        .iter()
                        .map(|(n, spec)| alert_json(format!("b-{run}-{n}"), spec))
                        .collect();
                    let sent = Instant::now();
                    match http.post(&url).json(&body).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            requests.push(sent.elapsed().as_micros() as i64);
                            break;
                        }
                        Ok(response) if crate::http_client::held_back(&response).is_some() => {
                            // The alert-producer's back-pressure (or a key's rate): wait as
                            // told, as a client of the platform should.
                            let wait = crate::http_client::retry_after(&response)
                                .unwrap_or(Duration::from_secs(1));
                            held_back.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        Ok(response) => {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("  ingest refused a batch (HTTP {status}): {text}; sending it again");
                            }
                        }
                        Err(err) => {
                            if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("  ingest failed: {err}; sending the batch again");
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Near enough for a lane, whose batches are not consecutive.
                let sent = first + chunk.len();
                let step = (alerts.len() / 5).max(1);
                let previous = reported.fetch_max(sent / step, Ordering::Relaxed);
                if sent / step > previous {
                    eprintln!(
                        "  {sent}/{} alerts sent ({:.0}/s)",
                        alerts.len(),
                        sent as f64 / started.elapsed().as_secs_f64().max(1e-9)
                    );
                }
            }
        }
    });
    let requests: Vec<i64> = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect();
    Ingest {
        requests,
        seconds: started.elapsed().as_secs_f64(),
        failures: failures.load(Ordering::Relaxed),
        held_back: held_back.load(Ordering::Relaxed),
    }
}

/// Alerts go out this often after a rule change, until one is matched.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(20);

/// Creates a rule disabled, enables it, and sends a matching alert every PROBE_EVERY
/// until one is delivered: the first alert sent after the change that it matched,
/// counted from the change (0 means the very first alert sent after it matched).
pub(super) async fn rule_change_probe(
    http: &reqwest::Client,
    platform: &Platform,
    arrivals: &Arrivals,
    sink: SocketAddr,
    run: &str,
    patience: Duration,
) -> anyhow::Result<Option<f64>> {
    let rs = &platform.rule_service;
    let client = format!("bench-{run}-probe");
    post(
        http,
        &format!("{rs}/api/v1/clients"),
        &json!({"client_id": client}),
    )
    .await?;
    let source = format!("probe-{run}");
    let rule = post(
        http,
        &format!("{rs}/api/v1/rules"),
        &json!({"client_id": client, "severity": "HIGH", "source": source, "name": "visible", "enabled": false}),
    )
    .await?;
    let id = rule["rule_id"].as_str().unwrap_or_default().to_owned();
    let version = rule["version"].as_i64().unwrap_or(1);
    post(
        http,
        &format!("{rs}/api/v1/rules/{id}/endpoints"),
        &json!({"type": "webhook", "value": format!("http://{sink}/probe")}),
    )
    .await?;
    let response = http
        .patch(format!("{rs}/api/v1/rules/{id}"))
        .json(&json!({"enabled": true, "version": version}))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("enabling the probe rule: HTTP {}", response.status());
    }
    let changed_at = Utc::now();
    let spec = AlertSpec {
        severity: "HIGH",
        source,
        name: "visible".to_owned(),
        dedup_key: None,
        resolved: false,
    };
    let url = format!("{}/api/v1/alerts", platform.alert_producers[0]);
    let prefix = format!("p-{run}-");
    let started = Instant::now();
    for n in 0.. {
        if !arrivals.with_prefix(&prefix).is_empty() || started.elapsed() > patience {
            break;
        }
        let body = alert_json(format!("{prefix}{n}"), &spec);
        post(http, &url, &serde_json::to_value([body])?).await?;
        tokio::time::sleep(PROBE_EVERY).await;
    }
    // Alerts sent a little earlier may still be on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first: Option<DateTime<Utc>> = arrivals
        .with_prefix(&prefix)
        .iter()
        .map(|a| a.event_ts)
        .min();
    Ok(first.map(|at| ((at - changed_at).num_microseconds().unwrap_or(0).max(0)) as f64 / 1_000.0))
}
