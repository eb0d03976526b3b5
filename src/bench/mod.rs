//! `alerting bench`: sets up clients and rules through the API, points every rule at a
//! webhook receiver on loopback, sends alerts through the alert-producer (as fast as
//! possible or at a rate), and reports throughput, ingest-to-delivery latency by
//! stage, how soon a rule change is matched, and each process's memory and CPU.
//!
//! The platform runs as child processes of this binary: `up` (embedded), or every
//! service on its own on Kafka, Redis and Postgres (`--mode kafka`), so the numbers
//! are those of what operators run.

mod processes;
mod receiver;
mod report;
mod workload;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use futures_util::{StreamExt, stream};
use processes::{Service, Usage, address_after};
use receiver::{Arrival, Arrivals};
use report::{Latency, ProcessReport, Report, Settings, Window};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Value, json};
use workload::{AlertSpec, RuleSpec, Workload};

use crate::config::KafkaFlow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// `alerting up` in one process: SQLite, in-process bus and snapshot.
    Embedded,
    /// Every service its own process on Kafka (KAFKA_BROKERS), Redis and Postgres.
    Kafka,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[arg(long, value_enum, default_value = "embedded")]
    pub mode: BenchMode,
    /// Tenants to create.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Rules to create, spread over the clients, each with a webhook endpoint.
    #[arg(long, default_value_t = 10_000)]
    pub rules: usize,
    /// Share of rules with a `*` (9 in 10 of them any severity, 1 in 10 any name).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub wildcard_percent: u8,
    /// Alerts to send in the measured run.
    #[arg(long, default_value_t = 50_000)]
    pub alerts: usize,
    /// Alerts per second; unset: as fast as the platform takes them.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Alerts per ingest request (at a --rate, at most a hundredth of the rate, so
    /// alerts go out every 10 ms).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch: u64,
    /// Ingest requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Instances of each scalable service (kafka mode): alert-producer, evaluator,
    /// aggregator, sender.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub instances: u64,
    /// Same seed, same rules and alerts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the results as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Report latency and CPU per stretch of this many seconds too (how a run changes as
    /// it goes on).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,
    /// Give up waiting when no delivery arrives for this many seconds.
    #[arg(long, default_value_t = 60)]
    pub patience: u64,
    /// Kafka bootstrap servers (kafka mode).
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// The run's topics and consumers (kafka mode).
    #[command(flatten)]
    pub flow: KafkaFlow,
    /// A Postgres server (kafka mode); the bench creates a database there and drops it.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// Redis for the rule snapshot (kafka mode); keys get a prefix of their own.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
}

/// The platform under test.
struct Platform {
    services: Vec<Service>,
    rule_service: String,
    alert_producers: Vec<String>,
    database: Option<(String, String)>,
    dir: PathBuf,
}

const START_PATIENCE: Duration = Duration::from_secs(120);

fn http_url(line: &str, marker: &str) -> anyhow::Result<String> {
    address_after(line, marker)
        .map(|address| format!("http://{address}"))
        .ok_or_else(|| anyhow!("no address in {line:?}"))
}

impl Platform {
    async fn embedded(dir: PathBuf) -> anyhow::Result<Self> {
        let env = vec![
            (
                "DATA_DIR".to_owned(),
                dir.join("data").display().to_string(),
            ),
            ("RULE_SERVICE_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("ALERT_PRODUCER_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        let mut up = Service::start("up (embedded)", &["up"], &env, &dir)?;
        let line = up
            .wait_for_line("alert-producer on http://", START_PATIENCE)
            .await
            .map_err(|e| anyhow!(e))?;
        Ok(Self {
            rule_service: http_url(&line, "rule-service on http://")?,
            alert_producers: vec![http_url(&line, "alert-producer on http://")?],
            services: vec![up],
            database: None,
            dir,
        })
    }

    async fn kafka(args: &BenchArgs, run: &str, dir: PathBuf) -> anyhow::Result<Self> {
        let brokers = args.kafka_brokers.clone().ok_or_else(|| {
            anyhow!(
                "--mode kafka needs KAFKA_BROKERS (or --kafka-brokers); for a local broker: \
                 KAFKA_BROKERS=$(scripts/test-broker start) alerting bench --mode kafka"
            )
        })?;
        let name = format!("alerting_bench_{run}");
        let mut url = url::Url::parse(&args.postgres_url).context("--postgres-url")?;
        let admin = crate::db::connect_url(&args.postgres_url, 1)
            .await
            .with_context(|| format!("connecting to {}", args.postgres_url))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        url.set_path(&format!("/{name}"));
        let mut platform = Self {
            services: Vec::new(),
            rule_service: String::new(),
            alert_producers: Vec::new(),
            database: Some((args.postgres_url.clone(), name)),
            dir,
        };
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", url.to_string()),
            ("KAFKA_BROKERS", brokers),
            ("KAFKA_TOPIC_PREFIX", format!("bench-{run}.")),
            ("KAFKA_CONSUMER_GROUP_PREFIX", format!("bench-{run}-")),
            ("KAFKA_SESSION_TIMEOUT_MS", "6000".to_owned()),
            (
                "KAFKA_TOPIC_PARTITIONS",
                args.flow.topic_partitions.to_string(),
            ),
            (
                "KAFKA_FETCH_WAIT_MAX_MS",
                args.flow.fetch_wait_max_ms.to_string(),
            ),
            ("REDIS_URL", args.redis_url.clone()),
            ("REDIS_KEY_PREFIX", format!("bench-{run}")),
            ("RULE_SERVICE_ADDR", "127.0.0.1:0".to_owned()),
            ("ALERT_PRODUCER_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for args in [&["migrate"][..], &["topics", "create"]] {
            let mut one_off = Service::start(&args.join(" "), args, &env, &platform.dir)?;
            one_off
                .wait_for_exit(START_PATIENCE)
                .await
                .map_err(|e| anyhow!(e))?;
        }
        let instances = args.instances as usize;
        let mut start = |name: String, args: &[&str]| -> anyhow::Result<usize> {
            platform
                .services
                .push(Service::start(&name, args, &env, &platform.dir)?);
            Ok(platform.services.len() - 1)
        };
        let rule_service = start("rule-service".into(), &["serve", "rule-service"])?;
        let mut producers = Vec::new();
        for n in 1..=instances {
            producers.push(start(
                format!("alert-producer {n}"),
                &["serve", "alert-producer"],
            )?);
        }
        let mut consumers = vec![(
            start("rule-updater".into(), &["run", "rule-updater"])?,
            "rule-updater started",
        )];
        for (service, ready) in [
            ("evaluator", "evaluator started"),
            ("aggregator", "aggregator started"),
            ("sender", "sender started"),
        ] {
            for n in 1..=instances {
                consumers.push((start(format!("{service} {n}"), &["run", service])?, ready));
            }
        }
        let line = platform.services[rule_service]
            .wait_for_line("rule-service on http://", START_PATIENCE)
            .await
            .map_err(|e| anyhow!(e))?;
        platform.rule_service = http_url(&line, "rule-service on http://")?;
        for index in producers {
            let line = platform.services[index]
                .wait_for_line("alert-producer on http://", START_PATIENCE)
                .await
                .map_err(|e| anyhow!(e))?;
            platform
                .alert_producers
                .push(http_url(&line, "alert-producer on http://")?);
        }
        for (index, ready) in consumers {
            platform.services[index]
                .wait_for_line(ready, START_PATIENCE)
                .await
                .map_err(|e| anyhow!(e))?;
        }
        Ok(platform)
    }

    fn usages(&self) -> Vec<Usage> {
        self.services.iter().map(Service::usage).collect()
    }

    async fn check_running(&mut self) -> anyhow::Result<()> {
        for service in &mut self.services {
            if !service.running() {
                bail!("{} stopped:\n{}", service.name, service.tail(30));
            }
        }
        Ok(())
    }

    async fn stop(self) {
        for service in self.services {
            service.stop().await;
        }
        if let Some((admin_url, name)) = self.database {
            match crate::db::connect_url(&admin_url, 1).await {
                Ok(admin) => {
                    if let Err(err) = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                    {
                        eprintln!("could not drop database {name}: {err}");
                    }
                }
                Err(err) => eprintln!("could not drop database {name}: {err}"),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The admin token of the platform the bench starts, made for this run.
pub(crate) static ADMIN_TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    alerting_handlers::http::auth::new_secret(alerting_handlers::http::auth::ADMIN_TOKEN_PREFIX)
});

fn http_client(connections: usize) -> anyhow::Result<reqwest::Client> {
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

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
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

const SETUP_CONCURRENCY: usize = 16;

/// Creates the clients, and every rule with its webhook endpoint; returns the rules
/// in the order their setup finished.
async fn set_up(
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

#[derive(Serialize)]
struct AlertJson<'a> {
    alert_id: String,
    severity: &'a str,
    source: &'a str,
    name: &'a str,
    event_ts: String,
    context: HashMap<&'static str, &'a str>,
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn alert_json<'a>(id: String, spec: &'a AlertSpec) -> AlertJson<'a> {
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
fn alert_for(rule: &RuleSpec) -> AlertSpec {
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

/// Waits until `condition` holds, re-checking on every arrival; false after `patience`
/// without any arrival.
async fn wait_for(
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
async fn warm_up(
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

struct Ingest {
    requests: Vec<i64>,
    seconds: f64,
    failures: usize,
}

/// Sends the run's alerts from `connections` workers, paced when a rate is given.
async fn send_alerts(
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
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// Creates a rule disabled, enables it, and sends a matching alert every PROBE_EVERY
/// until one is delivered: the first alert sent after the change that it matched,
/// counted from the change (0 means the very first alert sent after it matched).
async fn rule_change_probe(
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

fn process_reports(
    names: &[String],
    before: &[Usage],
    after: &[Usage],
    seconds: f64,
) -> Vec<ProcessReport> {
    names
        .iter()
        .zip(before.iter().zip(after))
        .map(|(name, (before, after))| {
            let cpu = (after.cpu_seconds - before.cpu_seconds).max(0.0);
            ProcessReport {
                name: name.clone(),
                peak_rss_mb: after.peak_rss_bytes as f64 / 1_048_576.0,
                cpu_seconds: cpu,
                cores_used: cpu / seconds.max(1e-9),
            }
        })
        // A dependency that is not on this machine (the broker elsewhere) says nothing.
        .filter(|p| p.peak_rss_mb > 0.0 || p.cpu_seconds > 0.0)
        .collect()
}

/// The run cut at `marks` (seconds since the first send, and every process's usage
/// then; the first at 0, the last at the end): the latency of the alerts sent between
/// two marks and the cores each process used between them. A last stretch shorter than
/// half the one before joins it, so that the drain after the last send does not stand
/// alone. Nothing when the run is one stretch.
fn over_time(
    names: &[String],
    arrivals: &[Arrival],
    wall_start: DateTime<Utc>,
    mut marks: Vec<(f64, Vec<Usage>)>,
) -> Vec<Window> {
    if marks.len() > 3 {
        let n = marks.len();
        let (last, before_last, earlier) = (marks[n - 1].0, marks[n - 2].0, marks[n - 3].0);
        if last - before_last < (before_last - earlier) / 2.0 {
            marks.remove(n - 2);
        }
    }
    if marks.len() < 3 {
        return Vec::new();
    }
    let sent_after =
        |a: &Arrival| (a.event_ts - wall_start).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let stretches = marks.len() - 1;
    marks
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let ((start, before), (end, after)) = (&pair[0], &pair[1]);
            let seconds = (end - start).max(1e-9);
            let latencies = arrivals
                .iter()
                .filter(|a| {
                    let sent = sent_after(a);
                    (i == 0 || sent >= *start) && (i + 1 == stretches || sent < *end)
                })
                .map(|a| {
                    (a.arrived_at - a.event_ts)
                        .num_microseconds()
                        .unwrap_or(i64::MAX)
                })
                .collect();
            Window {
                start_seconds: *start,
                end_seconds: *end,
                ingest_to_delivery: Latency::of(latencies),
                cores: names
                    .iter()
                    .zip(before.iter().zip(after))
                    .map(|(name, (b, a))| {
                        (
                            name.clone(),
                            (a.cpu_seconds - b.cpu_seconds).max(0.0) / seconds,
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; measure with `cargo run --profile dist -- bench …`"
        );
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of alerts per second");
    }
    let run = format!("{:08x}", uuid::Uuid::new_v4().as_u128() as u32);
    let dir = std::env::temp_dir().join(format!("alerting-bench-{run}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let patience = Duration::from_secs(args.patience.max(1));
    let (sink, arrivals) = receiver::start().await.context("starting the receiver")?;
    let started = Instant::now();
    eprintln!("starting the platform ({:?} mode) …", args.mode);
    let platform = match args.mode {
        BenchMode::Embedded => Platform::embedded(dir.clone()).await,
        BenchMode::Kafka => Platform::kafka(&args, &run, dir.clone()).await,
    };
    let mut platform = match platform {
        Ok(platform) => platform,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
    };
    let outcome = measure(
        &args,
        &run,
        &mut platform,
        sink,
        &arrivals,
        patience,
        started,
    )
    .await;
    platform.stop().await;
    let report = outcome?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        let file =
            std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
        serde_json::to_writer_pretty(file, &report)?;
        eprintln!("results written to {}", path.display());
    }
    if !report.complete {
        bail!("not every notification was delivered");
    }
    Ok(())
}

async fn measure(
    args: &BenchArgs,
    run: &str,
    platform: &mut Platform,
    sink: SocketAddr,
    arrivals: &Arrivals,
    patience: Duration,
    started: Instant,
) -> anyhow::Result<Report> {
    let http = http_client(args.connections)?;
    let workload = Workload::new(
        run,
        args.clients,
        args.rules,
        args.wildcard_percent,
        args.seed,
    );
    eprintln!(
        "setting up {} clients and {} rules with endpoints …",
        workload.clients.len(),
        workload.rules.len()
    );
    let rules = set_up(&http, &platform.rule_service, &workload, sink).await?;
    eprintln!("warming up (every service running, every rule in the snapshot) …");
    warm_up(
        &http,
        &platform.alert_producers[0],
        arrivals,
        &rules,
        run,
        START_PATIENCE,
    )
    .await?;
    platform.check_running().await?;
    let setup_seconds = started.elapsed().as_secs_f64();

    let alerts = workload.alerts(args.alerts);
    let expected: Vec<u32> = workload.expected(&workload.index(), &alerts);
    let expected_total: usize = expected.iter().map(|n| *n as usize).sum();
    let batch = match args.rate {
        Some(rate) => (args.batch as usize).min(((rate / 100.0) as usize).max(1)),
        None => args.batch as usize,
    };
    eprintln!(
        "sending {} alerts ({expected_total} notifications expected) …",
        alerts.len()
    );
    let mut names: Vec<String> = platform.services.iter().map(|s| s.name.clone()).collect();
    names.push(report::BENCH_PROCESS.to_owned());
    let own_pid = std::process::id().to_string();
    // What the platform leans on: their CPU time shows where the rest of it went.
    let external: &[&str] = match args.mode {
        BenchMode::Embedded => &[],
        BenchMode::Kafka => &["tansu", "java", "postgres", "redis-server"],
    };
    let usage_now = |platform: &Platform| {
        let mut all = platform.usages();
        all.push(processes::usage(&own_pid));
        all.extend(
            processes::cpu_by_command(external)
                .into_iter()
                .map(|(_, cpu_seconds)| Usage {
                    cpu_seconds,
                    ..Usage::default()
                }),
        );
        all
    };
    let before = usage_now(platform);
    names.extend(
        processes::cpu_by_command(external)
            .into_iter()
            .map(|(name, _)| format!("{name}{}", report::DEPENDENCY_SUFFIX)),
    );
    let wall_start = Utc::now();
    let clock = Instant::now();
    let prefix = format!("b-{run}-");
    let platform: &Platform = platform;
    let work = async {
        let ingest = send_alerts(
            &http,
            &platform.alert_producers,
            &alerts,
            run,
            batch,
            args.rate,
            args.connections,
        )
        .await;
        let complete = wait_for(arrivals, patience, || {
            // Counting distinct deliveries is the costly part; only once there may be enough.
            arrivals.count() >= expected_total && {
                let measured = arrivals.with_prefix(&prefix);
                let distinct: HashSet<(&str, &str)> = measured
                    .iter()
                    .map(|a| (a.alert_id.as_str(), a.client_id.as_str()))
                    .collect();
                distinct.len() >= expected_total
            }
        })
        .await;
        (ingest, complete)
    };
    tokio::pin!(work);
    let window = Duration::from_secs(args.window);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + window, window);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut marks = vec![(0.0, before.clone())];
    let (ingest, complete) = loop {
        tokio::select! {
            done = &mut work => break done,
            _ = ticks.tick() => marks.push((clock.elapsed().as_secs_f64(), usage_now(platform))),
        }
    };
    let elapsed = clock.elapsed().as_secs_f64();
    let after = usage_now(platform);
    marks.push((elapsed, after.clone()));
    let measured = arrivals.with_prefix(&prefix);
    let mut seen = HashSet::new();
    let mut first_arrivals = Vec::new();
    for arrival in &measured {
        if seen.insert((arrival.alert_id.clone(), arrival.client_id.clone())) {
            first_arrivals.push(arrival.clone());
        }
    }
    let duplicates = measured.len() - first_arrivals.len();
    let last = first_arrivals
        .iter()
        .map(|a| a.arrived_at)
        .max()
        .unwrap_or(wall_start);
    let run_seconds = ((last - wall_start).num_microseconds().unwrap_or(0) as f64 / 1e6).max(1e-9);
    let micros = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(i64::MAX);
    let delivered = first_arrivals.len();
    if ingest.failures > 0 {
        eprintln!("  {} ingest requests were sent again", ingest.failures);
    }

    eprintln!("measuring how soon a rule change is matched …");
    let rule_change_visible_ms = match rule_change_probe(
        &http,
        platform,
        arrivals,
        sink,
        run,
        Duration::from_secs(30),
    )
    .await
    {
        Ok(ms) => ms,
        Err(err) => {
            eprintln!("  rule change probe failed: {err:#}");
            None
        }
    };
    Ok(Report {
        settings: Settings {
            mode: format!("{:?}", args.mode).to_lowercase(),
            clients: workload.clients.len(),
            rules: workload.rules.len(),
            wildcard_percent: args.wildcard_percent,
            alerts: alerts.len(),
            rate: args.rate,
            batch,
            connections: args.connections,
            instances: args.instances as usize,
            kafka: (args.mode == BenchMode::Kafka).then_some(args.flow),
            seed: args.seed,
        },
        machine: report::machine(),
        setup_seconds,
        alerts_sent: alerts.len(),
        ingest_seconds: ingest.seconds,
        alerts_per_second_in: alerts.len() as f64 / ingest.seconds.max(1e-9),
        notifications_expected: expected_total,
        notifications_delivered: delivered,
        duplicate_deliveries: duplicates,
        run_seconds,
        alerts_per_second_end_to_end: if delivered >= expected_total {
            alerts.len() as f64 / run_seconds
        } else {
            0.0
        },
        notifications_per_second: delivered as f64 / run_seconds,
        ingest_to_delivery: Latency::of(
            first_arrivals
                .iter()
                .map(|a| micros(a.arrived_at - a.event_ts))
                .collect(),
        ),
        ingest_request: Latency::of(ingest.requests),
        send_to_stored: Latency::of(
            first_arrivals
                .iter()
                .map(|a| micros(a.created_at - a.event_ts))
                .collect(),
        ),
        stored_to_delivered: Latency::of(
            first_arrivals
                .iter()
                .map(|a| micros(a.arrived_at - a.created_at))
                .collect(),
        ),
        rule_change_visible_ms,
        over_time: over_time(&names, &first_arrivals, wall_start, marks),
        processes: process_reports(&names, &before, &after, elapsed),
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(start: DateTime<Utc>, sent_ms: i64, latency_ms: i64) -> Arrival {
        let event_ts = start + chrono::TimeDelta::milliseconds(sent_ms);
        Arrival {
            client_id: "c".into(),
            alert_id: format!("a{sent_ms}"),
            event_ts,
            created_at: event_ts,
            arrived_at: event_ts + chrono::TimeDelta::milliseconds(latency_ms),
        }
    }

    fn mark(seconds: f64, cpu: [f64; 2]) -> (f64, Vec<Usage>) {
        let usage = |cpu_seconds| Usage {
            cpu_seconds,
            ..Usage::default()
        };
        (seconds, vec![usage(cpu[0]), usage(cpu[1])])
    }

    #[test]
    fn the_run_is_cut_by_send_time_and_a_short_tail_joins_the_stretch_before() {
        let start = Utc::now();
        let names = ["evaluator 1".to_owned(), "tansu (all processes)".to_owned()];
        let arrivals = [
            arrival(start, 1_000, 50),
            arrival(start, 15_000, 300),
            arrival(start, 20_200, 100),
        ];
        let marks = vec![
            mark(0.0, [0.0, 0.0]),
            mark(10.0, [1.0, 2.0]),
            mark(20.0, [2.0, 6.0]),
            mark(21.0, [2.5, 9.0]),
        ];
        let windows = over_time(&names, &arrivals, start, marks);
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].ingest_to_delivery.count, 1);
        assert_eq!(windows[0].ingest_to_delivery.max_ms, 50.0);
        assert_eq!(windows[1].ingest_to_delivery.count, 2);
        assert_eq!(windows[1].ingest_to_delivery.max_ms, 300.0);
        assert_eq!(windows[1].end_seconds, 21.0);
        assert_eq!(windows[0].cores[1], (names[1].clone(), 0.2));
        assert!((windows[1].cores[1].1 - 7.0 / 11.0).abs() < 1e-9);
        assert!(windows[1].row().contains("platform 0.14, tansu 0.64"));
    }

    #[test]
    fn a_run_of_one_stretch_has_no_breakdown() {
        let start = Utc::now();
        let names = ["evaluator 1".to_owned(), "tansu (all processes)".to_owned()];
        let marks = vec![mark(0.0, [0.0, 0.0]), mark(4.0, [1.0, 2.0])];
        assert!(over_time(&names, &[arrival(start, 10, 5)], start, marks).is_empty());
    }
}
