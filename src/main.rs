use std::{io::IsTerminal, process::ExitCode};

use alerting::{
    config::{DatabaseConfig, LogConfig, LogFormat, RuleServiceConfig},
    platform,
    runners::shutdown::{self, Shutdown},
};
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

const ENVIRONMENT_HELP: &str = "\
Environment (each also a --flag of the subcommands that use it; see `alerting <command> --help`):
  DATABASE_URL              postgres://… or sqlite://…; unset: SQLite at $DATA_DIR/alerting.db
  DATA_DIR                  embedded mode's files [default: ./data]
  DATABASE_MAX_CONNECTIONS  database pool size [default: 10]
  RULE_SERVICE_ADDR         rule-service listen address [default: 127.0.0.1:8080]
  LOG_FORMAT                text or json [default: text]
  RUST_LOG                  log filter, e.g. info or alerting=debug [default: info]

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
    /// Run the whole platform in one process (embedded SQLite unless DATABASE_URL is
    /// set), applying migrations first. Stops cleanly on Ctrl-C or SIGTERM.
    Up {
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        rule_service: RuleServiceConfig,
    },
    /// Serve one HTTP service on its own, as its ECS service does. The database schema
    /// must be current (run `alerting migrate` first).
    Serve {
        #[arg(value_enum)]
        service: HttpService,
        #[command(flatten)]
        database: DatabaseConfig,
        #[command(flatten)]
        rule_service: RuleServiceConfig,
    },
    /// Apply pending database migrations and exit (a one-off task in production).
    Migrate {
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HttpService {
    /// Clients, rules, endpoints and notifications (REST).
    RuleService,
}

fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
    match cli.command {
        Command::Up {
            database,
            rule_service,
        } => {
            platform::up(&database, &rule_service, Shutdown::on(shutdown::signal())).await?;
        }
        Command::Serve {
            service: HttpService::RuleService,
            database,
            rule_service,
        } => {
            platform::serve_rule_service_from_config(
                &database,
                &rule_service,
                Shutdown::on(shutdown::signal()),
            )
            .await?;
        }
        Command::Migrate { database } => {
            let (applied, backend) = platform::migrate(&database).await?;
            if applied == 0 {
                tracing::info!("database {backend} is up to date");
            } else {
                tracing::info!("applied {applied} migration(s) to {backend}");
            }
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
