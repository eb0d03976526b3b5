//! The command line: every command of the `alerting` binary, what each reads, and what
//! it runs. `main` parses it and hands it to [`run`]; the settings each command reads
//! are the clap definitions in `config` (the configuration reference is generated from
//! this tree).

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    adapters::kafka,
    config::{self, DatabaseConfig, KafkaConfig, LogConfig, Settings},
    platform,
    runners::{
        metrics as exporter,
        shutdown::{self, Shutdown},
    },
    services::{self, Service, jobs},
    tools::{
        bench::{self, BenchArgs},
        produce::{self, ProduceArgs},
        sink::{self, SinkArgs},
    },
};

/// Multi-tenant alerting: tenants define rules, alerts are matched against them, and
/// each matching tenant is notified once per alert.
#[derive(Debug, Parser)]
#[command(
    name = "alerting",
    version,
    after_help = "Every setting is an environment variable and a flag; docs/CONFIGURATION.md \
                  lists them all (`alerting config-reference` prints it). With nothing set, \
                  `alerting up` runs the whole platform embedded, in one process."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub log: LogConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process: embedded (SQLite, in-process bus and
    /// snapshot) unless DATABASE_URL, KAFKA_BROKERS and REDIS_URL are set. Applies
    /// migrations and creates Kafka topics first. Stops cleanly on Ctrl-C or SIGTERM.
    Up(Box<Settings>),
    /// Serve one HTTP service on its own, as its ECS service does.
    Serve {
        #[arg(value_enum)]
        service: HttpService,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Run one consumer service on its own (needs KAFKA_BROKERS; the evaluator and
    /// rule-updater REDIS_URL; all but the evaluator DATABASE_URL).
    Run {
        #[arg(value_enum)]
        service: Consumer,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Run a one-shot job and exit (an ECS scheduled task).
    Job {
        #[arg(value_enum)]
        job: Job,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply pending database migrations and exit (a one-off task in production).
    Migrate {
        #[command(flatten)]
        database: DatabaseConfig,
        /// The URL the services connect with (Postgres): `migrate` makes the role it
        /// names, with its password, and grants it reading and writing the tables and
        /// nothing more, so that only `migrate` itself needs the schema owner's
        /// DATABASE_URL.
        #[arg(long, env = "DATABASE_APP_URL", hide_env_values = true)]
        app_url: Option<String>,
    },
    /// Manage Kafka topics.
    Topics {
        #[arg(value_enum)]
        action: TopicsAction,
        #[command(flatten)]
        kafka: KafkaConfig,
    },
    /// Generate alerts: a count as fast as possible, or a rate for a duration.
    Produce(ProduceArgs),
    /// A local webhook receiver that prints every delivery (and checks signatures).
    Sink(SinkArgs),
    /// Measure the platform: set up clients and rules, send alerts to a loopback
    /// webhook receiver, and report throughput, latency by stage, and each process's
    /// memory and CPU (`--mode embedded` or `--mode kafka`; build with --release).
    Bench(Box<BenchArgs>),
    /// Exit 0 if an HTTP service answers its health check, 1 if not: the container
    /// image's HEALTHCHECK (the image has no curl).
    Health {
        /// The health URL to ask.
        #[arg(
            long,
            env = "HEALTH_URL",
            default_value = "http://127.0.0.1:8080/health",
            help_heading = "alerting health"
        )]
        url: String,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = config::parse_duration)]
        timeout: Duration,
    },
    /// Print the configuration reference (docs/CONFIGURATION.md) from the definitions
    /// of every setting.
    #[command(hide = true)]
    ConfigReference,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HttpService {
    /// Clients, rules, endpoints and notifications (REST).
    RuleService,
    /// Alert ingestion and load generation.
    AlertProducer,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Consumer {
    /// Matches alerts.new against the rule snapshot.
    Evaluator,
    /// Keeps the rule snapshot current (one writer; others stand by).
    RuleUpdater,
    /// Stores one notification per (client, alert) and announces it.
    Aggregator,
    /// Delivers notifications to webhooks, Slack and email.
    Sender,
}

impl From<HttpService> for Service {
    fn from(service: HttpService) -> Self {
        match service {
            HttpService::RuleService => Self::RuleService,
            HttpService::AlertProducer => Self::AlertProducer,
        }
    }
}

impl From<Consumer> for Service {
    fn from(consumer: Consumer) -> Self {
        match consumer {
            Consumer::Evaluator => Self::Evaluator,
            Consumer::RuleUpdater => Self::RuleUpdater,
            Consumer::Aggregator => Self::Aggregator,
            Consumer::Sender => Self::Sender,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Job {
    /// Rebuild the rule snapshot from SQL once.
    SnapshotRebuild,
    /// Announce again every notification stuck PENDING longer than REDRIVE_AFTER.
    Redrive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TopicsAction {
    /// Create every topic and dead-letter topic (KAFKA_TOPIC_PARTITIONS partitions each,
    /// default 9); topics that exist are left as they are.
    Create,
}

/// Runs a parsed command to its end.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let stop = || Shutdown::on(shutdown::signal());
    if matches!(
        command,
        Command::Up { .. } | Command::Serve { .. } | Command::Run { .. }
    ) {
        tokio::spawn(crate::memory::release_periodically());
    }
    match command {
        Command::Up(settings) => {
            let exporter = exporter::start(&settings.metrics, "platform", false).await?;
            let result = platform::up(&settings, stop()).await;
            exporter.finish().await;
            result?;
        }
        Command::Serve { service, settings } => {
            run_service(service.into(), &settings, false, stop()).await?;
        }
        Command::Run { service, settings } => {
            run_service(service.into(), &settings, true, stop()).await?;
        }
        Command::Job {
            job: Job::SnapshotRebuild,
            settings,
        } => match jobs::snapshot_rebuild(&settings).await? {
            Some(version) => tracing::info!("rule snapshot rebuilt as version {version}"),
            None => tracing::info!(
                "a rule-updater holds the lease and rebuilds on its own schedule; nothing to do"
            ),
        },
        Command::Job {
            job: Job::Redrive,
            settings,
        } => {
            let count = jobs::redrive(&settings).await?;
            tracing::info!("redrive: announced {count} stuck notification(s) again");
        }
        Command::Migrate { database, app_url } => {
            let (applied, backend, role) = jobs::migrate(&database, app_url.as_deref()).await?;
            if applied == 0 {
                tracing::info!("database {backend} is up to date");
            } else {
                tracing::info!("applied {applied} migration(s) to {backend}");
            }
            if let Some(role) = role {
                tracing::info!("role {role} may read and write the tables, nothing more");
            }
        }
        Command::Topics {
            action: TopicsAction::Create,
            kafka,
        } => {
            if kafka.brokers.is_none() {
                anyhow::bail!("KAFKA_BROKERS is not set");
            }
            let created = kafka::Kafka::connect(&kafka).await?.create_topics().await?;
            if created.is_empty() {
                tracing::info!("every topic exists already");
            } else {
                tracing::info!("created topics: {}", created.join(", "));
            }
        }
        Command::Produce(args) => produce::produce(args).await?,
        Command::Sink(args) => sink::run(args, stop()).await?,
        Command::Bench(args) => bench::run(*args).await?,
        Command::Health { url, timeout } => health(&url, timeout).await?,
        Command::ConfigReference => print!("{}", reference()),
    }
    Ok(())
}

/// One service on its own, with its metrics exported (`listen`: on METRICS_ADDR, for
/// the services without an HTTP address of their own).
async fn run_service(
    service: Service,
    settings: &Settings,
    listen: bool,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let exporter = exporter::start(&settings.metrics, service.name(), listen).await?;
    let result = services::run_alone(service, settings, shutdown).await;
    exporter.finish().await;
    Ok(result?)
}

async fn health(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let response = crate::http_client::builder()
        .timeout(timeout)
        .build()?
        .get(url)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("unhealthy: {url} did not answer: {err}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "unhealthy: {url} answered {status}");
    println!("healthy: {url} answered {status}");
    Ok(())
}

/// docs/CONFIGURATION.md, from every command's settings.
pub fn reference() -> String {
    config::reference::render(&<Cli as clap::CommandFactory>::command())
}

#[cfg(test)]
mod tests {
    /// The reference in the repository is what the code defines: a setting added,
    /// renamed or described anew without `alerting config-reference >
    /// docs/CONFIGURATION.md` fails here.
    #[test]
    fn the_configuration_reference_is_generated_from_the_code() {
        let generated = super::reference();
        let committed = include_str!("../docs/CONFIGURATION.md");
        if generated != committed {
            let first = generated
                .lines()
                .zip(committed.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(generated.lines().count().min(committed.lines().count()));
            panic!(
                "docs/CONFIGURATION.md differs from the code from line {}:\n  code: {:?}\n  file: {:?}\nRegenerate it: cargo run -- config-reference > docs/CONFIGURATION.md",
                first + 1,
                generated.lines().nth(first),
                committed.lines().nth(first)
            );
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
