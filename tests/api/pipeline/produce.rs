//! `alerting produce`: reproducible sequences, and sending to a running alert-producer.

use alerting_test_support::process::run;
use tokio::process::Command;

use super::{Mode, Pipeline};

fn produce(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alerting"));
    command.arg("produce").args(args).env("RUST_LOG", "warn");
    command
}

fn triples(output: &str) -> Vec<(String, String, String)> {
    output
        .lines()
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let field = |k: &str| alert[k].as_str().unwrap_or_default().to_owned();
            (field("severity"), field("source"), field("name"))
        })
        .collect()
}

#[tokio::test]
async fn the_same_seed_produces_the_same_sequence() {
    let (code, first) = run(produce(&["--count", "10000", "--seed", "7", "--stdout"])).await;
    assert_eq!(code, Some(0), "{first}");
    let (_, second) = run(produce(&["--count", "10000", "--seed", "7", "--stdout"])).await;
    let (_, other) = run(produce(&["--count", "10000", "--seed", "8", "--stdout"])).await;
    let first = triples(&first);
    assert_eq!(first.len(), 10_000);
    assert_eq!(first, triples(&second));
    assert_ne!(first, triples(&other));
    let severities: std::collections::BTreeSet<_> = first.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        severities.len(),
        4,
        "every severity appears: {severities:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_sends_to_the_alert_producer() {
    let mut p = Pipeline::start(Mode::Embedded).await;
    p.client("acme").await;
    p.rule("acme", "*", "payments", "*").await;
    p.wait_for_rules(1).await;
    let (code, output) = run(produce(&[
        "--count",
        "1200",
        "--seed",
        "1",
        "--source",
        "payments",
        "--to",
        &p.alert_producer,
        "--token",
        alerting_test_support::ADMIN_TOKEN,
    ]))
    .await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("sent 1200 alerts"), "{output}");
    assert_eq!(p.matches(1200).await.len(), 1200);

    let (code, output) = run(produce(&["--count", "10", "--to", "http://127.0.0.1:9"])).await;
    assert_eq!(
        code,
        Some(1),
        "an unreachable producer is a failure: {output}"
    );
    let (code, output) = run(produce(&["--rate", "10"])).await;
    assert_eq!(code, Some(2), "{output}");
}
