//! `alerting bench`: sets up clients and rules through the API, points every rule at a
//! webhook receiver on loopback, sends alerts through the alert-producer (as fast as
//! possible or at a rate), and reports throughput, ingest-to-delivery latency by
//! stage, how soon a rule change is matched, and each process's memory and CPU.
//!
//! The platform runs as child processes of this binary: `up` (embedded), or every
//! service on its own on Kafka, Redis and Postgres (`--mode kafka`), so the numbers
//! are those of what operators run.

mod load;
mod platform;
mod processes;
mod receiver;
mod report;
mod setup;
mod windows;
mod workload;

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, ValueEnum};
use processes::Usage;
use receiver::Arrivals;
use report::{Latency, Report, Settings};
use workload::Workload;

use crate::config::KafkaFlow;
use load::{rule_change_probe, send_alerts};
pub(crate) use platform::ADMIN_TOKEN;
use platform::{Platform, START_PATIENCE};
use setup::{http_client, set_up, wait_for, warm_up};
use windows::{over_time, process_reports};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// `alerting up` in one process: SQLite, in-process bus and snapshot.
    Embedded,
    /// Every service its own process on Kafka (KAFKA_BROKERS), Redis and Postgres.
    Kafka,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "alerting bench")]
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
    /// Give every alert a dedup key drawn from this many problems (each with its own
    /// severity, source and name), so most fold into an open notification; 0: none.
    #[arg(long, default_value_t = 0)]
    pub dedup_keys: usize,
    /// With --dedup-keys: the share of alerts that resolve their problem (and each
    /// problem's last alert does).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub resolved_percent: u8,
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
    // Stopped by Ctrl-C or SIGTERM while it measures, it still stops the services it
    // started and drops their database. (Stopped while they start, the ones started
    // are killed with it, as their handles drop.)
    let outcome = tokio::select! {
        outcome = measure(&args, &run, &mut platform, sink, &arrivals, patience, started) => outcome,
        () = crate::runners::shutdown::signal() => Err(anyhow::anyhow!("interrupted")),
    };
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

    let alerts = match args.dedup_keys {
        0 => workload.alerts(args.alerts),
        keys => workload.keyed_alerts(args.alerts, keys, args.resolved_percent),
    };
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
                let distinct: HashSet<(&str, &str, bool)> = measured
                    .iter()
                    .map(|a| (a.alert_id.as_str(), a.client_id.as_str(), a.resolution))
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
        if seen.insert((
            arrival.alert_id.clone(),
            arrival.client_id.clone(),
            arrival.resolution,
        )) {
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
    // Latency is the notifications': a resolution's time runs from its problem's first
    // alert, which says how long the problem lasted, not how fast the platform is.
    let notified: Vec<receiver::Arrival> = first_arrivals
        .iter()
        .filter(|a| !a.resolution)
        .cloned()
        .collect();
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
            dedup_keys: args.dedup_keys,
            resolved_percent: (args.dedup_keys > 0).then_some(args.resolved_percent),
        },
        machine: report::machine(),
        setup_seconds,
        alerts_sent: alerts.len(),
        ingest_seconds: ingest.seconds,
        alerts_per_second_in: alerts.len() as f64 / ingest.seconds.max(1e-9),
        ingest_held_back: ingest.held_back,
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
            notified
                .iter()
                .map(|a| micros(a.arrived_at - a.event_ts))
                .collect(),
        ),
        ingest_request: Latency::of(ingest.requests),
        send_to_stored: Latency::of(
            notified
                .iter()
                .map(|a| micros(a.created_at - a.event_ts))
                .collect(),
        ),
        stored_to_delivered: Latency::of(
            notified
                .iter()
                .map(|a| micros(a.arrived_at - a.created_at))
                .collect(),
        ),
        rule_change_visible_ms,
        over_time: over_time(&names, &notified, wall_start, marks),
        processes: process_reports(&names, &before, &after, elapsed),
        complete,
    })
}
