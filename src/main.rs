//! The `alerting` binary: old setting names translated, the command line parsed,
//! logging set up, then the command run on a Tokio runtime. Everything else lives in
//! the library (`alerting::cli` first).

use std::{io::IsTerminal, process::ExitCode};

use alerting::{
    cli::{self, Cli},
    config::{LogConfig, LogFormat, deprecated},
};
use clap::Parser;
use tracing_subscriber::EnvFilter;

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

fn main() -> ExitCode {
    let renamed = deprecated::translate(
        |name| std::env::var(name).ok(),
        std::env::args_os().collect(),
    );
    for (name, value) in &renamed.variables {
        // SAFETY: no other thread exists yet (the runtime is built below), so nothing
        // reads the environment while it changes.
        unsafe { std::env::set_var(name, value) };
    }
    let cli = Cli::parse_from(renamed.args);
    init_logging(&cli.log);
    for warning in &renamed.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}
