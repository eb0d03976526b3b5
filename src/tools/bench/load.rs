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
    }
}

pub(super) struct Ingest {
    pub(super) requests: Vec<i64>,
    pub(super) seconds: f64,
    pub(super) failures: usize,
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
    let batches: Vec<(usize, &[AlertSpec])> = alerts
        .chunks(batch)
        .enumerate()
        .map(|(n, chunk)| (n * batch, chunk))
        .collect();
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    let reported = AtomicUsize::new(0);
    let workers = (0..connections.max(1)).map(|worker| {
        let (batches, next, failures, reported) = (&batches, &next, &failures, &reported);
        let url = format!(
            "{}/api/v1/alerts",
            producers[worker % producers.len().max(1)]
        );
        async move {
            let mut requests = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((first, chunk)) = batches.get(index) else {
                    return requests;
                };
                if let Some(rate) = rate {
                    let due = Duration::from_secs_f64(*first as f64 / rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                loop {
                    let body: Vec<AlertJson<'_>> = chunk
                        .iter()
                        .enumerate()
                        .map(|(n, spec)| alert_json(format!("b-{run}-{}", first + n), spec))
                        .collect();
                    let sent = Instant::now();
                    match http.post(&url).json(&body).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            requests.push(sent.elapsed().as_micros() as i64);
                            break;
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
