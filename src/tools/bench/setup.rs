//! Before the run: the clients, rules and webhook endpoints made through the API, and a
//! warm-up until every part delivers.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use super::receiver::Arrivals;
use super::workload::{AlertSpec, RuleSpec, Workload};
use super::{
    ADMIN_TOKEN,
    load::{AlertJson, alert_for, alert_json},
};
use anyhow::{Context, anyhow, bail};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

pub(super) fn http_client(connections: usize) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", *ADMIN_TOKEN).parse()?,
    );
    Ok(crate::http_client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(connections.max(32))
        .build()?)
}

pub(super) async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: HTTP {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(super) const SETUP_CONCURRENCY: usize = 16;

/// Creates the clients, and every rule with its webhook endpoint; returns the rules
/// in the order their setup finished.
pub(super) async fn set_up(
    http: &reqwest::Client,
    rule_service: &str,
    workload: &Workload,
    sink: SocketAddr,
) -> anyhow::Result<Vec<RuleSpec>> {
    let clients = format!("{rule_service}/api/v1/clients");
    let created: Vec<anyhow::Result<Value>> = stream::iter(&workload.clients)
        .map(|client| {
            let body = json!({"client_id": client, "name": client});
            let clients = clients.clone();
            async move { post(http, &clients, &body).await }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    created.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let rules_url = format!("{rule_service}/api/v1/rules");
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let total = workload.rules.len();
    let results: Vec<anyhow::Result<RuleSpec>> = stream::iter(&workload.rules)
        .map(|rule| {
            let client = &workload.clients[rule.client];
            let body = json!({
                "client_id": client,
                "severity": rule.severity,
                "source": rule.source,
                "name": rule.name,
            });
            let rules_url = &rules_url;
            let done = &done;
            async move {
                let created = post(http, rules_url, &body).await?;
                let id = created["rule_id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no rule_id in {created}"))?;
                post(
                    http,
                    &format!("{rule_service}/api/v1/rules/{id}/endpoints"),
                    &json!({"type": "webhook", "value": format!("http://{sink}/c/{client}")}),
                )
                .await?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(10_000) || n == total {
                    eprintln!(
                        "  {n}/{total} rules with endpoints ({:.0}/s)",
                        n as f64 / started.elapsed().as_secs_f64().max(1e-9)
                    );
                }
                Ok(rule.clone())
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Waits until `condition` holds, re-checking on every arrival; false after `patience`
/// without any arrival.
pub(super) async fn wait_for(
    arrivals: &Arrivals,
    patience: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let mut last_count = arrivals.count();
    let mut last_progress = Instant::now();
    loop {
        let changed = arrivals.changed.notified();
        if condition() {
            return true;
        }
        let count = arrivals.count();
        if count != last_count {
            last_count = count;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > patience {
            return false;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
    }
}

/// Sends alerts matching the last rules set up until each has been delivered: every
/// part is running and the snapshot holds the whole rule set.
pub(super) async fn warm_up(
    http: &reqwest::Client,
    producer: &str,
    arrivals: &Arrivals,
    rules: &[RuleSpec],
    run: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    let last: Vec<&RuleSpec> = rules.iter().rev().take(20).collect();
    let url = format!("{producer}/api/v1/alerts");
    let started = Instant::now();
    for round in 0.. {
        let delivered: HashSet<String> = arrivals
            .with_prefix(&format!("w-{run}-"))
            .into_iter()
            .filter_map(|a| a.alert_id.rsplit_once('-').map(|(rule, _)| rule.to_owned()))
            .collect();
        let missing: Vec<(usize, AlertSpec)> = last
            .iter()
            .enumerate()
            .filter(|(n, _)| !delivered.contains(&format!("w-{run}-{n}")))
            .map(|(n, rule)| (n, alert_for(rule)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() > patience {
            bail!(
                "warm-up: {} of {} probe alerts were never delivered in {patience:?}",
                missing.len(),
                last.len()
            );
        }
        let batch: Vec<AlertJson<'_>> = missing
            .iter()
            .map(|(n, spec)| alert_json(format!("w-{run}-{n}-{round}"), spec))
            .collect();
        // Sent again after a while if it matched nothing: the snapshot was not there yet.
        let changed = arrivals.changed.notified();
        post(http, &url, &serde_json::to_value(&batch)?).await?;
        let _ = tokio::time::timeout(Duration::from_millis(500), changed).await;
    }
    Ok(())
}
