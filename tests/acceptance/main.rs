//! Acceptance suites: the Gherkin features in `features/`, run against the platform as
//! a user meets it (HTTP API, a local webhook sink, a local SMTP server), once
//! embedded (`alerting up`) and once distributed (every service its own process on
//! Tansu, Redis and Postgres).
//!
//! Tags select what runs: each scenario carries its mode as a tag while it runs, so
//! `cargo test --test acceptance -- --tags @embedded` runs the embedded mode only,
//! `--tags '@distributed and @retries'` one feature distributed, and a mode no
//! scenario is selected for is not started. A scenario tagged `@embedded` or
//! `@distributed` in its feature file runs in that mode only. ACCEPTANCE_MODES
//! (default `embedded,distributed`) narrows the modes too. Each mode prints a summary
//! per feature and writes a JUnit report to `target/acceptance/junit-<mode>.xml`
//! (ACCEPTANCE_REPORT_DIR).

mod platform;
mod steps;

use std::{io, path::PathBuf, sync::Arc};

use cucumber::{
    World, WriterExt,
    gherkin::{Feature, GherkinEnv, Scenario, tagexpr::TagOperation},
    tag::Ext as _,
    writer,
    writer::Stats,
};
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

/// The `--tags` expression given after `--`, if any.
fn tag_expression() -> Option<TagOperation> {
    let args: Vec<String> = std::env::args().collect();
    let value = args.iter().enumerate().find_map(|(i, arg)| {
        arg.strip_prefix("--tags=")
            .map(str::to_owned)
            .or_else(|| (arg == "--tags").then(|| args.get(i + 1).cloned().unwrap_or_default()))
    })?;
    Some(
        value
            .parse()
            .unwrap_or_else(|err| panic!("--tags {value:?}: {err}")),
    )
}

/// Whether a scenario runs in a mode: the tags of its feature and its own, with the
/// mode's name as one more.
fn selected(
    mode: Mode,
    tags: Option<&TagOperation>,
    feature: &Feature,
    scenario: &Scenario,
) -> bool {
    let own: Vec<&str> = feature
        .tags
        .iter()
        .chain(scenario.tags.iter())
        .map(String::as_str)
        .collect();
    let only_embedded = own.contains(&"embedded");
    let only_distributed = own.contains(&"distributed");
    let runs_here = match mode {
        Mode::Embedded => !only_distributed,
        Mode::Distributed => !only_embedded,
    };
    runs_here && tags.is_none_or(|tags| tags.eval(own.iter().copied().chain([mode.name()])))
}

/// How many scenarios of the features run in a mode.
fn count_selected(features: &[Feature], mode: Mode, tags: Option<&TagOperation>) -> usize {
    features
        .iter()
        .map(|feature| {
            feature
                .scenarios
                .iter()
                .chain(feature.rules.iter().flat_map(|rule| rule.scenarios.iter()))
                .filter(|scenario| selected(mode, tags, feature, scenario))
                .count()
        })
        .sum()
}

/// Every feature file, parsed (to know before starting a mode whether anything in it
/// is selected).
fn features(dir: &str) -> Vec<Feature> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("features directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "feature"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            Feature::parse_path(path, GherkinEnv::default())
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        })
        .collect()
}

/// Scenarios, passed and failed per feature, from a mode's JUnit report.
fn summary_by_feature(report: &str) -> Vec<String> {
    let attribute = |tag: &str, name: &str| -> String {
        tag.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    report
        .split("<testsuite ")
        .skip(1)
        .filter_map(|suite| suite.split('>').next())
        .map(|tag| {
            let count = |name: &str| attribute(tag, name).parse::<usize>().unwrap_or(0);
            let (tests, failed) = (count("tests"), count("failures") + count("errors"));
            let name = attribute(tag, "name");
            let name = name.split(": ").nth(1).unwrap_or(&name).to_owned();
            format!(
                "  {name:<45} {tests:>3} scenario(s): {} passed, {failed} failed",
                tests.saturating_sub(failed)
            )
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with('-') && (*i == 0 || args[i - 1] != "--tags"))
        .map(|(_, a)| a)
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "acceptance".contains(f.as_str())) {
        return;
    }
    let features_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
    let dir = report_dir();
    std::fs::create_dir_all(&dir).expect("report directory");
    let tags = tag_expression();
    let parsed = features(features_dir);
    let mut failed = Vec::new();
    for mode in modes() {
        let count = count_selected(&parsed, mode, tags.as_ref());
        if count == 0 {
            println!(
                "\n=== acceptance: {} mode: no scenario selected ===",
                mode.name()
            );
            continue;
        }
        println!(
            "\n=== acceptance: {} mode, {count} scenario(s) ===",
            mode.name()
        );
        let platform = Arc::new(Platform::start(mode).await);
        *PLATFORM.write().expect("lock") = Some(platform.clone());
        let report_path = dir.join(format!("junit-{}.xml", mode.name()));
        let report = std::fs::File::create(&report_path).expect("report file");
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
            .with_writer(
                writer::Basic::raw(io::stdout(), writer::Coloring::Never, 0)
                    .summarized()
                    .tee::<Alerting, _>(writer::JUnit::for_tee(report, 0))
                    .normalized(),
            )
            // After the writer, which it wraps: a step no definition matches fails.
            .fail_on_skipped()
            .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::default())
            .filter_run(features_dir, {
                let tags = tags.clone();
                move |feature, _, scenario| selected(mode, tags.as_ref(), feature, scenario)
            })
            .await;
        println!("\n{} mode, by feature:", mode.name());
        let written = std::fs::read_to_string(&report_path).unwrap_or_default();
        for line in summary_by_feature(&written) {
            println!("{line}");
        }
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
