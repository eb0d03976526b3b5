use std::{io::IsTerminal, process::ExitCode};

use alerting::{
    adapters::kafka,
    bench::{self, BenchArgs},
    config::{
        AlertProducerConfig, AuthConfig, DatabaseConfig, DeliveryConfig, HttpConfig, KafkaConfig,
        LogConfig, LogFormat, MatchingConfig, MetricsConfig, RedisConfig, RuleServiceConfig,
        TargetConfig,
    },
    platform::{self, PlatformConfig},
    produce::{self, ProduceArgs},
    runners::{
        metrics as exporter,
        shutdown::{self, Shutdown},
    },
    sink::{self, SinkArgs},
};
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

const ENVIRONMENT_HELP: &str = "\
Environment (each also a --flag of the subcommands that use it; see `alerting <command> --help`):
  DATABASE_URL                 postgres://… or sqlite://…; unset: SQLite at $DATA_DIR/alerting.db
  DATA_DIR                     embedded mode's files [default: ./data]
  DATABASE_MAX_CONNECTIONS     database pool size [default: 10 for Postgres, 2 for SQLite]
  RULE_SERVICE_ADDR            rule-service listen address [default: 127.0.0.1:8080]
  ALERT_PRODUCER_ADDR          alert-producer listen address [default: 127.0.0.1:8081]
  ALERT_PRODUCER_URL           where `produce` sends alerts [default: http://127.0.0.1:8081]
  KAFKA_BROKERS                Kafka bootstrap servers; unset: in-process bus
  KAFKA_SESSION_TIMEOUT_MS     consumer group session timeout [default: 10000]
  KAFKA_FETCH_WAIT_MAX_MS      longest a consumer's fetch waits [default: 500]
  KAFKA_CONSUMER_QUEUE_KB      messages a consumer fetches ahead, KiB [default: 4096]
  KAFKA_TOPIC_PREFIX           prepended to topic names [default: none]
  KAFKA_CONSUMER_GROUP_PREFIX  prepended to consumer groups [default: alerting-]
  KAFKA_TOPIC_PARTITIONS       partitions per topic, for `topics create` [default: 9]
  KAFKA_REPLICATION_FACTOR     for `topics create` [default: 1]
  KAFKA_MESSAGE_TIMEOUT_MS     producer delivery timeout [default: 60000]
  REDIS_URL                    Redis for the rule snapshot; unset: in-process
  REDIS_KEY_PREFIX             prepended to Redis keys [default: alerting]
  SNAPSHOT_REBUILD_INTERVAL    full snapshot rebuild period [default: 5m]
  SNAPSHOT_POLL_INTERVAL       evaluators' snapshot check period [default: 1s]
  RULE_UPDATER_LEASE_TTL       writer lease; a standby takes over after it [default: 10s]
  OUTBOX_POLL_INTERVAL         outbox relay period [default: 200ms]
  CONSUMER_BATCH_SIZE          messages per consumer batch [default: 500]
  DELIVERY_TIMEOUT_MS          one delivery attempt's timeout [default: 10000]
  DELIVERY_MAX_ATTEMPTS        attempts per endpoint per round [default: 5]
  DELIVERY_BACKOFF_MS          first retry delay, doubled each time [default: 500]
  DELIVERY_MAX_BACKOFF_MS      longest retry delay and Retry-After [default: 60000]
  SENDER_CONCURRENCY           deliveries in flight per sender [default: 64]
  SENDER_CONCURRENCY_PER_ENDPOINT  deliveries in flight to one address [default: 8]
  SENDER_BATCHES_IN_FLIGHT     batches a sender works on at once [default: 2]
  SENDER_BATCH_WAIT            longest a batch waits for a slow receiver; what it holds
                               goes on after the batch [default: 500ms]
  CIRCUIT_BREAKER_FAILURES     failures in a row before an endpoint's deliveries are
                               deferred to the redrive; 0: never [default: 10]
  CIRCUIT_BREAKER_COOLDOWN     how long an endpoint that is down is left alone [default: 30s]
  SMTP_URL                     smtp://host:25 or smtps://user:pass@host:465; unset: no email
  EMAIL_FROM                   From of notification emails [default: Alerting <alerting@localhost>]
  MAX_DELIVERIES_PER_NOTIFICATION  addresses one notification reaches; 0: no limit [default: 25]
  REDRIVE_AFTER                re-announce notifications PENDING this long [default: 5m]
  REDRIVE_INTERVAL             how often `up` runs the redrive [default: 1m]
  SINK_ADDR, SINK_SECRET       `sink`: where to listen, and the secret to check
  BENCH_POSTGRES_URL           `bench --mode kafka`: the Postgres server it makes its database on
                               [default: postgres://postgres@127.0.0.1:5432/postgres]
  ADMIN_TOKEN                  admin bearer token (32+ random chars); unset: `up` makes one in $DATA_DIR/admin-token
  INGEST_RATE_LIMIT            alert ingestion requests/s per key, per alert-producer [default: 100]
  WRITE_RATE_LIMIT             writes/s per client key, per rule-service; 0: no limit [default: 20]
  MAX_RULES_PER_CLIENT         rules one client may have; 0: no limit [default: 1000]
  MAX_ENDPOINTS_PER_RULE       endpoints one rule may have; 0: no limit [default: 10]
  MAX_ENDPOINTS_PER_CLIENT     endpoints one client may have; 0: no limit [default: 2000]
  MAX_KEYS_PER_CLIENT          unrevoked API keys one client may have; 0: no limit [default: 20]
  ALLOW_PRIVATE_ENDPOINTS      true: webhooks may reach loopback/private addresses [default: false]
  HTTP_HEADER_READ_TIMEOUT     a client's time to send a request's headers [default: 10s]
  HTTP_IDLE_TIMEOUT            how long an idle keep-alive connection is kept [default: 75s]
  ALERTING_TOKEN               the token `produce` sends
  METRICS_ADDR                 a consumer's /health and /metrics listener; unset: none
  CLOUDWATCH_METRICS           true: also push metrics to CloudWatch [default: false]
  CLOUDWATCH_NAMESPACE         [default: AlertingPlatform]
  CLOUDWATCH_INTERVAL          how often metrics are pushed [default: 60s]
  CLOUDWATCH_ENDPOINT_URL      another CloudWatch endpoint (VPC endpoint, test server)
  ENVIRONMENT                  the metrics' Environment dimension [default: local]
  LOG_FORMAT                   text or json [default: text]
  HEALTH_URL                   what `alerting health` asks [default: http://127.0.0.1:8080/health]
  RUST_LOG                     log filter, e.g. info or alerting=debug [default: info]

With nothing set, `alerting up` runs the whole platform embedded, in one process.";

/// Multi-tenant alerting: tenants define rules, alerts are matched against them, and
/// each matching tenant is notified once per alert.
#[derive(Debug, Parser)]
#[command(name = "alerting", version, after_help = ENVIRONMENT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    log: LogConfig,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole platform in one process: embedded (SQLite, in-process bus and
    /// snapshot) unless DATABASE_URL, KAFKA_BROKERS and REDIS_URL are set. Applies
    /// migrations and creates Kafka topics first. Stops cleanly on Ctrl-C or SIGTERM.
    Up {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        rule_service: RuleServiceConfig,
        #[command(flatten)]
        alert_producer: AlertProducerConfig,
        #[command(flatten)]
        kafka: KafkaConfig,
        #[command(flatten)]
        redis: RedisConfig,
        #[command(flatten)]
        matching: MatchingConfig,
        #[command(flatten)]
        delivery: DeliveryConfig,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(flatten)]
        targets: TargetConfig,
        #[command(flatten)]
        http: HttpConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Serve one HTTP service on its own, as its ECS service does.
    Serve {
        #[arg(value_enum)]
        service: HttpService,
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        rule_service: RuleServiceConfig,
        #[command(flatten)]
        alert_producer: AlertProducerConfig,
        #[command(flatten)]
        kafka: KafkaConfig,
        #[command(flatten)]
        redis: RedisConfig,
        #[command(flatten)]
        auth: AuthConfig,
        #[command(flatten)]
        targets: TargetConfig,
        #[command(flatten)]
        http: HttpConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Run one consumer service on its own (needs KAFKA_BROKERS; the evaluator and
    /// rule-updater REDIS_URL; all but the evaluator DATABASE_URL).
    Run {
        #[arg(value_enum)]
        service: Consumer,
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        kafka: KafkaConfig,
        #[command(flatten)]
        redis: RedisConfig,
        #[command(flatten)]
        matching: MatchingConfig,
        #[command(flatten)]
        delivery: DeliveryConfig,
        #[command(flatten)]
        targets: TargetConfig,
        #[command(flatten)]
        metrics: MetricsConfig,
    },
    /// Run a one-shot job and exit (an ECS scheduled task).
    Job {
        #[arg(value_enum)]
        job: Job,
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        kafka: KafkaConfig,
        #[command(flatten)]
        redis: RedisConfig,
        #[command(flatten)]
        matching: MatchingConfig,
        #[command(flatten)]
        delivery: DeliveryConfig,
    },
    /// Apply pending database migrations and exit (a one-off task in production).
    Migrate {
        #[command(flatten)]
        database: DatabaseConfig,
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
            default_value = "http://127.0.0.1:8080/health"
        )]
        url: String,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = alerting::config::parse_duration)]
        timeout: std::time::Duration,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HttpService {
    /// Clients, rules, endpoints and notifications (REST).
    RuleService,
    /// Alert ingestion and load generation.
    AlertProducer,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Consumer {
    /// Matches alerts.new against the rule snapshot.
    Evaluator,
    /// Keeps the rule snapshot current (one writer; others stand by).
    RuleUpdater,
    /// Stores one notification per (client, alert) and announces it.
    Aggregator,
    /// Delivers notifications to webhooks, Slack and email.
    Sender,
}

impl HttpService {
    fn name(self) -> &'static str {
        match self {
            Self::RuleService => "rule-service",
            Self::AlertProducer => "alert-producer",
        }
    }
}

impl Consumer {
    fn name(self) -> &'static str {
        match self {
            Self::Evaluator => "evaluator",
            Self::RuleUpdater => "rule-updater",
            Self::Aggregator => "aggregator",
            Self::Sender => "sender",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Job {
    /// Rebuild the rule snapshot from SQL once.
    SnapshotRebuild,
    /// Announce again every notification stuck PENDING longer than REDRIVE_AFTER.
    Redrive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TopicsAction {
    /// Create every topic and dead-letter topic (KAFKA_TOPIC_PARTITIONS partitions each,
    /// default 9); topics that exist are left as they are.
    Create,
}

fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let stop = || Shutdown::on(shutdown::signal());
    if matches!(
        cli.command,
        Command::Up { .. } | Command::Serve { .. } | Command::Run { .. }
    ) {
        tokio::spawn(alerting::memory::release_periodically());
    }
    match cli.command {
        Command::Up {
            database,
            rule_service,
            alert_producer,
            kafka,
            redis,
            matching,
            delivery,
            auth,
            targets,
            http,
            metrics,
        } => {
            let config = PlatformConfig {
                database,
                rule_service,
                alert_producer,
                kafka,
                redis,
                matching,
                delivery,
                auth,
                targets,
                http,
            };
            let exporter = exporter::start(&metrics, "platform", false).await?;
            let result = platform::up(&config, stop()).await;
            exporter.finish().await;
            result?;
        }
        Command::Serve {
            service,
            database,
            rule_service,
            alert_producer,
            kafka,
            redis,
            auth,
            targets,
            http,
            metrics,
        } => {
            let exporter = exporter::start(&metrics, service.name(), false).await?;
            let result = match service {
                HttpService::RuleService => {
                    platform::serve_rule_service_from_config(
                        &database,
                        &rule_service,
                        &kafka,
                        &auth,
                        &targets,
                        &http,
                        stop(),
                    )
                    .await
                }
                HttpService::AlertProducer => {
                    platform::serve_alert_producer_from_config(
                        &alert_producer,
                        &database,
                        &kafka,
                        &redis,
                        &auth,
                        &http,
                        stop(),
                    )
                    .await
                }
            };
            exporter.finish().await;
            result?;
        }
        Command::Run {
            service,
            database,
            kafka,
            redis,
            matching,
            delivery,
            targets,
            metrics,
        } => {
            let exporter = exporter::start(&metrics, service.name(), true).await?;
            let result = match service {
                Consumer::Evaluator => {
                    platform::run_evaluator(&kafka, &redis, &matching, stop()).await
                }
                Consumer::RuleUpdater => {
                    platform::run_rule_updater(&database, &kafka, &redis, &matching, stop()).await
                }
                Consumer::Aggregator => {
                    platform::run_aggregator(&database, &kafka, &matching, stop()).await
                }
                Consumer::Sender => {
                    platform::run_sender(&database, &kafka, &matching, &delivery, &targets, stop())
                        .await
                }
            };
            exporter.finish().await;
            result?;
        }
        Command::Job {
            job,
            database,
            kafka,
            redis,
            matching,
            delivery,
        } => match job {
            Job::SnapshotRebuild => {
                match platform::snapshot_rebuild(&database, &redis, &matching).await? {
                    Some(version) => tracing::info!("rule snapshot rebuilt as version {version}"),
                    None => tracing::info!(
                        "a rule-updater holds the lease and rebuilds on its own schedule; nothing to do"
                    ),
                }
            }
            Job::Redrive => {
                let count = platform::redrive(&database, &kafka, &delivery).await?;
                tracing::info!("redrive: announced {count} stuck notification(s) again");
            }
        },
        Command::Migrate { database } => {
            let (applied, backend) = platform::migrate(&database).await?;
            if applied == 0 {
                tracing::info!("database {backend} is up to date");
            } else {
                tracing::info!("applied {applied} migration(s) to {backend}");
            }
        }
        Command::Topics {
            action: TopicsAction::Create,
            kafka,
        } => {
            if kafka.brokers.is_none() {
                anyhow::bail!("KAFKA_BROKERS is not set");
            }
            let created = kafka::create_topics(&kafka).await?;
            if created.is_empty() {
                tracing::info!("every topic exists already");
            } else {
                tracing::info!("created topics: {}", created.join(", "));
            }
        }
        Command::Produce(args) => produce::produce(args).await?,
        Command::Sink(args) => sink::run(args, stop()).await?,
        Command::Bench(args) => bench::run(*args).await?,
        Command::Health { url, timeout } => {
            let response = alerting::http_client::builder()
                .timeout(timeout)
                .build()?
                .get(&url)
                .send()
                .await
                .map_err(|err| anyhow::anyhow!("unhealthy: {url} did not answer: {err}"))?;
            let status = response.status();
            anyhow::ensure!(status.is_success(), "unhealthy: {url} answered {status}");
            println!("healthy: {url} answered {status}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
