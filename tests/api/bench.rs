//! `alerting bench` as an operator runs it: a small workload in each mode, every
//! expected notification delivered, the table printed and the JSON written. Numbers are
//! not asserted (benchmarks are not tests); that the run completes and accounts for
//! every notification is.

use std::time::Duration;

use alerting_test_support::{
    alerting_command,
    process::{run_within, test_broker},
};

/// A bench starts a whole platform and waits for Kafka consumer groups to form: longer
/// than the other commands' patience, and still only a hung run reaches it.
const PATIENCE: Duration = Duration::from_secs(240);

const SMALL: [&str; 8] = [
    "--clients",
    "4",
    "--rules",
    "60",
    "--alerts",
    "400",
    "--patience",
    "30",
];

fn check(code: Option<i32>, output: &str, json: &std::path::Path, mode: &str) {
    assert_eq!(code, Some(0), "{output}");
    for line in [
        "alerts end to end",
        "notifications delivered",
        "ingest → delivery",
        "send → stored",
        "stored → delivered",
        "rule change → matched",
        "peak RSS MB",
    ] {
        assert!(output.contains(line), "the table shows {line:?}: {output}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json).expect("JSON written")).expect("JSON");
    assert_eq!(report["settings"]["mode"], mode);
    assert_eq!(report["complete"], true, "{report:#}");
    let expected = report["notifications_expected"].as_u64().expect("a count");
    assert!(expected > 0, "the workload matches something: {report:#}");
    assert_eq!(report["notifications_delivered"].as_u64(), Some(expected));
    assert_eq!(report["duplicate_deliveries"], 0);
    assert_eq!(
        report["ingest_to_delivery"]["count"].as_u64(),
        Some(expected)
    );
    assert!(
        report["rule_change_visible_ms"].is_number(),
        "the rule change was matched: {report:#}"
    );
    let processes = report["processes"].as_array().expect("processes");
    assert!(
        processes
            .iter()
            .filter(|p| p["name"] != "bench (load + receiver)")
            .any(|p| p["peak_rss_mb"].as_f64().unwrap_or(0.0) > 0.0),
        "memory is read for the platform's processes: {processes:#?}"
    );
}

#[tokio::test]
async fn bench_runs_embedded_and_accounts_for_every_notification() {
    let dir = tempfile::tempdir().expect("dir");
    let json = dir.path().join("embedded.json");
    let mut command = alerting_command!(dir.path());
    command
        .args(["bench", "--mode", "embedded"])
        .args(SMALL)
        // Two seconds of sending in one-second stretches.
        .args(["--rate", "200", "--window", "1"])
        .arg("--json")
        .arg(&json);
    let (code, output) = run_within(command, PATIENCE).await;
    check(code, &output, &json, "embedded");
    assert!(output.contains("up (embedded)"), "{output}");
    assert!(!output.contains("partition(s) per topic"), "{output}");
    assert!(output.contains("over time (by send)"), "{output}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("JSON written")).expect("JSON");
    let stretches = report["over_time"].as_array().expect("over_time");
    assert!(stretches.len() >= 2, "{report:#}");
    let counted: u64 = stretches
        .iter()
        .map(|s| s["ingest_to_delivery"]["count"].as_u64().expect("a count"))
        .sum();
    assert_eq!(
        Some(counted),
        report["notifications_delivered"].as_u64(),
        "every delivery is in one stretch: {report:#}"
    );
    assert!(
        stretches
            .iter()
            .all(|s| s["cores"].as_array().is_some_and(|c| !c.is_empty())),
        "{report:#}"
    );
}

#[tokio::test]
async fn bench_runs_on_kafka_with_every_service_its_own_process() {
    let dir = tempfile::tempdir().expect("dir");
    let json = dir.path().join("kafka.json");
    let mut command = alerting_command!(dir.path());
    command
        .env("KAFKA_BROKERS", test_broker())
        .env("KAFKA_TOPIC_PARTITIONS", "2")
        .env("KAFKA_FETCH_WAIT_MAX", "100ms")
        .env("KAFKA_LINGER", "5ms")
        .args(["bench", "--mode", "kafka"])
        .args(SMALL)
        .arg("--json")
        .arg(&json);
    let (code, output) = run_within(command, PATIENCE).await;
    check(code, &output, &json, "kafka");
    assert!(
        output.contains("kafka: 2 partition(s) per topic, fetch wait 100 ms, linger 5 ms"),
        "the table says which bus settings the run had: {output}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("JSON written")).expect("JSON");
    assert_eq!(
        report["settings"]["kafka"],
        serde_json::json!({"topic_partitions": 2, "fetch_wait_max_ms": 100, "linger_ms": 5})
    );
    for service in [
        "rule-service",
        "alert-producer 1",
        "rule-updater",
        "evaluator 1",
        "aggregator 1",
        "sender 1",
    ] {
        assert!(output.contains(service), "{service} measured: {output}");
    }
}

#[tokio::test]
async fn bench_on_kafka_without_brokers_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = alerting_command!(dir.path());
    command
        .env_remove("KAFKA_BROKERS")
        .args(["bench", "--mode", "kafka"]);
    let (code, output) = run_within(command, PATIENCE).await;
    assert_ne!(code, Some(0), "{output}");
    assert!(output.contains("KAFKA_BROKERS"), "{output}");
}
