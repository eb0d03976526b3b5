//! Acceptance suites: the Gherkin features in `features/`, run against the platform as
//! a user meets it (HTTP API, a local webhook sink, a local SMTP server), once
//! embedded (`alerting up`) and once distributed (every service its own process on
//! Tansu, Redis and Postgres).
//!
//! ACCEPTANCE_MODES picks the modes (default `embedded,distributed`). A scenario
//! tagged `@embedded` or `@distributed` runs in that mode only. Each mode writes a
//! JUnit report to `target/acceptance/junit-<mode>.xml` (ACCEPTANCE_REPORT_DIR).

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod platform;
#[path = "../api/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../api/sinks.rs"]
#[allow(dead_code)]
mod sinks;
mod steps;

use std::{io, path::PathBuf, sync::Arc};

use cucumber::{World, WriterExt, writer, writer::Stats};
use platform::{Mode, Platform};
use steps::{Alerting, PLATFORM};

fn modes() -> Vec<Mode> {
    let wanted =
        std::env::var("ACCEPTANCE_MODES").unwrap_or_else(|_| "embedded,distributed".to_owned());
    wanted
        .split(',')
        .filter_map(|mode| match mode.trim() {
            "embedded" => Some(Mode::Embedded),
            "distributed" => Some(Mode::Distributed),
            "" => None,
            other => panic!("ACCEPTANCE_MODES: unknown mode {other:?} (embedded, distributed)"),
        })
        .collect()
}

fn report_dir() -> PathBuf {
    std::env::var("ACCEPTANCE_REPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/acceptance"))
        })
}

#[tokio::main]
async fn main() {
    // `cargo test <filter>` hands its filter to every test binary: a filter that is
    // not ours means another test was asked for, so the suite stays out of the way.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "acceptance".contains(f.as_str())) {
        return;
    }
    let features = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
    let dir = report_dir();
    std::fs::create_dir_all(&dir).expect("report directory");
    let mut failed = Vec::new();
    for mode in modes() {
        println!("\n=== acceptance: {} mode ===", mode.name());
        let platform = Arc::new(Platform::start(mode).await);
        *PLATFORM.write().expect("lock") = Some(platform.clone());
        let report = std::fs::File::create(dir.join(format!("junit-{}.xml", mode.name())))
            .expect("report file");
        let result = Alerting::cucumber()
            // One at a time: a scenario's wildcard rules would match its neighbours' alerts.
            .max_concurrent_scenarios(1)
            .after(|_, _, _, _, world| {
                Box::pin(async move {
                    if let Some(world) = world {
                        world.clean_up().await;
                    }
                })
            })
            .fail_on_skipped()
            .with_writer(
                writer::Basic::raw(io::stdout(), writer::Coloring::Never, 0)
                    .summarized()
                    .tee::<Alerting, _>(writer::JUnit::for_tee(report, 0))
                    .normalized(),
            )
            .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::default())
            .filter_run(features, move |feature, _, scenario| {
                let tags: Vec<&String> = feature.tags.iter().chain(scenario.tags.iter()).collect();
                let only_embedded = tags.iter().any(|t| *t == "embedded");
                let only_distributed = tags.iter().any(|t| *t == "distributed");
                match mode {
                    Mode::Embedded => !only_distributed,
                    Mode::Distributed => !only_embedded,
                }
            })
            .await;
        if result.execution_has_failed() || result.parsing_errors() > 0 {
            failed.push(mode.name());
        }
        *PLATFORM.write().expect("lock") = None;
        if let Ok(platform) = Arc::try_unwrap(platform) {
            platform.stop().await;
        }
    }
    println!("JUnit reports in {}", dir.display());
    if !failed.is_empty() {
        eprintln!("acceptance failed in: {}", failed.join(", "));
        std::process::exit(1);
    }
}
