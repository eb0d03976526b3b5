//! `alerting produce`: load generation from the command line, with a progress bar. It
//! posts batches to an alert-producer (so it works against `up` and against ECS alike)
//! or prints the alerts as JSON lines.

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use alerting_handlers::{
    events::AlertBody,
    jobs::generate::{self, GenerateSpec, Progress},
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "alerting produce")]
pub struct ProduceArgs {
    /// Send this many alerts as fast as possible.
    #[arg(long, conflicts_with_all = ["rate", "duration"])]
    pub count: Option<u64>,
    /// Alerts per second (with --duration).
    #[arg(long, requires = "duration")]
    pub rate: Option<f64>,
    /// Seconds to send at --rate.
    #[arg(long, requires = "rate")]
    pub duration: Option<f64>,
    /// Same seed, same sequence of (severity, source, name).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A severity and its weight, e.g. --severity HIGH=3 (repeatable).
    #[arg(long = "severity", value_name = "SEVERITY[=WEIGHT]")]
    pub severities: Vec<String>,
    /// A source and its weight, e.g. --source payments=4 (repeatable).
    #[arg(long = "source", value_name = "SOURCE[=WEIGHT]")]
    pub sources: Vec<String>,
    /// An alert name and its weight, e.g. --name timeout=2 (repeatable).
    #[arg(long = "name", value_name = "NAME[=WEIGHT]")]
    pub names: Vec<String>,
    /// The alert-producer to send to.
    #[arg(
        long,
        env = "ALERT_PRODUCER_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub to: String,
    /// Print the alerts as JSON lines instead of sending them.
    #[arg(long)]
    pub stdout: bool,
    /// The bearer token: the admin token or a client key with the `ingest` scope.
    /// Unset: the admin token `alerting up` keeps in $DATA_DIR/admin-token, if any.
    #[arg(long, env = "ALERTING_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// How many times a batch is sent again after a 429 (over the key's rate) or a 503
/// with Retry-After (the pipeline is behind) before it counts as failed.
const HELD_BACK_RETRIES: u32 = 60;

/// The token to send: --token / ALERTING_TOKEN, else `up`'s kept admin token.
fn token(args: &ProduceArgs) -> anyhow::Result<String> {
    if let Some(token) = &args.token {
        return Ok(token.trim().to_owned());
    }
    let data_dir = std::env::var_os("DATA_DIR").unwrap_or_else(|| "./data".into());
    let kept = std::path::Path::new(&data_dir).join("admin-token");
    std::fs::read_to_string(&kept)
        .map(|token| token.trim().to_owned())
        .map_err(|_| {
            anyhow::anyhow!(
                "no token: set ALERTING_TOKEN (or --token) to the admin token or a client key with the `ingest` scope ({} does not exist)",
                kept.display()
            )
        })
}

fn weights(field: &str, values: &[String]) -> anyhow::Result<Option<BTreeMap<String, u32>>> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut weights = BTreeMap::new();
    for value in values {
        let (key, weight) = match value.rsplit_once('=') {
            Some((key, weight)) => (
                key,
                weight.parse().map_err(|_| {
                    anyhow::anyhow!("--{field} {value}: the weight must be a whole number")
                })?,
            ),
            None => (value.as_str(), 1),
        };
        weights.insert(key.to_owned(), weight);
    }
    Ok(Some(weights))
}

pub async fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let spec = GenerateSpec {
        rate: args.rate,
        duration: args.duration,
        count: args.count,
        seed: args.seed,
        severities: weights("severity", &args.severities)?,
        sources: weights("source", &args.sources)?,
        names: weights("name", &args.names)?,
    };
    let plan = spec.plan().map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("--{}: {}", e.field.trim_end_matches('s'), e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let total = plan.pace.total();
    let seed = plan.seed;
    let progress = Arc::new(Progress::default());
    let started = Instant::now();

    if args.stdout {
        let stdout = std::io::stdout();
        generate::run(plan, progress.clone(), |alerts| {
            let mut out = stdout.lock();
            let result = alerts.iter().try_for_each(|alert| {
                serde_json::to_writer(&mut out, &AlertBody::from(alert))
                    .map_err(std::io::Error::other)
                    .and_then(|()| out.write_all(b"\n"))
            });
            async move { result }
        })
        .await;
        return Ok(());
    }

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} alerts, {per_sec}, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let token = token(&args)?;
    let client = crate::http_client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{}/api/v1/alerts", args.to.trim_end_matches('/'));
    generate::run(plan, progress.clone(), |alerts| {
        let request = client
            .post(&url)
            .bearer_auth(&token)
            .json(&alerts.iter().map(AlertBody::from).collect::<Vec<_>>());
        let bar = bar.clone();
        let size = alerts.len() as u64;
        async move {
            let mut retries = 0;
            let response = loop {
                let attempt = request
                    .try_clone()
                    .ok_or_else(|| "the request cannot be sent again".to_owned())?;
                let response = attempt.send().await.map_err(|err| err.to_string())?;
                let Some(why) = crate::http_client::held_back(&response) else {
                    break response;
                };
                if retries >= HELD_BACK_RETRIES {
                    break response;
                }
                // Over the key's rate, or the pipeline is behind: nothing of the batch
                // was taken; wait as told, then send the same batch again.
                let wait =
                    crate::http_client::retry_after(&response).unwrap_or(Duration::from_secs(1));
                bar.set_message(format!("{why}, waiting {} s", wait.as_secs()));
                tokio::time::sleep(wait).await;
                retries += 1;
            };
            let status = response.status();
            bar.inc(size);
            if status.is_success() {
                Ok(())
            } else {
                let body = response.text().await.unwrap_or_default();
                bar.set_message(format!("last error: HTTP {status}"));
                Err(format!("HTTP {status}: {body}"))
            }
        }
    })
    .await;
    bar.finish();
    let sent = progress.sent.load(Ordering::Relaxed);
    let errors = progress.errors.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {sent} alerts in {seconds:.1} s ({:.0} alerts/s), {errors} failed, seed {seed}",
        sent as f64 / seconds.max(1e-9)
    );
    if errors > 0 {
        anyhow::bail!("{errors} alerts were not accepted by {url}");
    }
    Ok(())
}
