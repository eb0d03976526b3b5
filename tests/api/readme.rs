//! Every `curl` example in the README and in `docs/API.md`, run as printed, in that
//! order, as one script against a fresh `alerting up` started as the README says (no
//! ADMIN_TOKEN: `up` makes one and the examples read it from `data/admin-token`). The
//! README's quick start runs first: the API's examples go on from the state it leaves
//! (its client `shop`), and shell variables carry over from block to block. Only the
//! address changes (the test's server listens on a free port).

use alerting_test_support::{
    alerting_command,
    process::{Running, run},
};
use tokio::process::Command;

/// The documents whose examples run, in this order.
const DOCUMENTS: [&str; 2] = [
    include_str!("../../README.md"),
    include_str!("../../docs/API.md"),
];
const PRINTED_RULE_SERVICE: &str = "http://127.0.0.1:8080";
const PRINTED_ALERT_PRODUCER: &str = "http://127.0.0.1:8081";
const PRINTED_SINK: &str = "http://127.0.0.1:9000";

/// Every fenced code block of the documents, in order: its language and its lines.
fn fenced_blocks() -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    for document in DOCUMENTS {
        let mut current: Option<(String, String)> = None;
        for line in document.lines() {
            match (&mut current, line.trim_start().strip_prefix("```")) {
                (None, Some(language)) => current = Some((language.to_owned(), String::new())),
                (Some(_), Some(_)) => blocks.extend(current.take()),
                (Some((_, block)), None) => {
                    block.push_str(line);
                    block.push('\n');
                }
                (None, None) => {}
            }
        }
    }
    blocks
}

/// The documents' bash blocks that call curl, each with the status it expects (2xx
/// unless the block starts with `# expect: NNN`).
fn examples() -> Vec<(String, Option<u16>)> {
    fenced_blocks()
        .into_iter()
        .filter(|(language, block)| language == "bash" && block.contains("curl "))
        .map(|(_, block)| {
            let expected = block
                .lines()
                .next()
                .and_then(|first| first.strip_prefix("# expect: "))
                .and_then(|status| status.trim().parse().ok());
            (block, expected)
        })
        .collect()
}

/// Code blocks that call curl but are not fenced as bash (they would not be run).
fn curl_outside_bash_blocks() -> Vec<String> {
    fenced_blocks()
        .into_iter()
        .filter(|(language, block)| language != "bash" && block.contains("curl "))
        .map(|(language, block)| format!("```{language}\n{block}"))
        .collect()
}

#[tokio::test]
async fn every_curl_example_works_as_printed() {
    let examples = examples();
    assert!(
        examples.len() >= 8,
        "the README and docs/API.md have their examples: {examples:#?}"
    );
    let unrun = curl_outside_bash_blocks();
    assert!(unrun.is_empty(), "fence these as bash: {unrun:#?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    // As printed: the default ingestion limit, and nothing pointing at other services.
    command
        .env_remove("ADMIN_TOKEN")
        .env_remove("DATA_DIR")
        .env_remove("INGEST_RATE_LIMIT")
        .env_remove("KAFKA_BROKERS")
        .env_remove("REDIS_URL")
        .arg("up");
    let mut up = Running::start(command);
    let (rule_service, alert_producer) = up.addresses().await;
    assert!(
        up.seen
            .iter()
            .any(|line| line.contains("Admin token (shown once")),
        "up prints the token it made: {:#?}",
        up.seen
    );
    let mut command = alerting_command!(dir.path());
    command.args([
        "sink",
        "--addr",
        "127.0.0.1:0",
        "--secret",
        "change-me-to-16-chars-or-more",
    ]);
    let mut sink = Running::start(command);
    let sink_line = sink.wait_for_line("sink listening on http://").await;
    let sink_address = sink_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("the sink's address")
        .to_owned();

    // curl reports each status on stderr; blocks are numbered there too.
    let mut script = String::from(
        "set -euo pipefail\ncurl() { command curl -w '%{stderr}STATUS %{http_code}\\n' \"$@\"; }\nexport TOKEN=$(cat data/admin-token)\n",
    );
    for (index, (block, _)) in examples.iter().enumerate() {
        script.push_str(&format!("echo 'BLOCK {index}' >&2\n"));
        script.push_str(
            &block
                .replace(PRINTED_RULE_SERVICE, &format!("http://{rule_service}"))
                .replace(PRINTED_ALERT_PRODUCER, &format!("http://{alert_producer}"))
                .replace(PRINTED_SINK, &format!("http://{sink_address}")),
        );
    }
    let mut bash = Command::new("bash");
    bash.current_dir(dir.path()).arg("-c").arg(&script);
    let (code, output) = run(bash).await;
    assert_eq!(code, Some(0), "the examples ran to the end:\n{output}");

    let mut block = None;
    let mut statuses: Vec<Vec<u16>> = vec![Vec::new(); examples.len()];
    for line in output.lines() {
        if let Some(index) = line.strip_prefix("BLOCK ") {
            block = index.trim().parse::<usize>().ok();
        } else if let (Some(index), Some(status)) = (block, line.strip_prefix("STATUS ")) {
            statuses[index].push(status.trim().parse().expect("a status"));
        }
    }
    for (index, ((text, expected), seen)) in examples.iter().zip(&statuses).enumerate() {
        assert!(!seen.is_empty(), "block {index} made requests:\n{text}");
        for status in seen {
            match expected {
                Some(expected) => assert_eq!(status, expected, "block {index}:\n{text}\n{output}"),
                None => assert!(
                    (200..300).contains(status),
                    "block {index} got {status}:\n{text}\n{output}"
                ),
            }
        }
    }
    // The quick start's alert reached the receiver, signed.
    let delivered = sink.wait_for_line("POST /hooks/shop").await;
    assert!(delivered.contains("signature ok"), "{delivered}");
    let (status, _) = sink.terminate().await;
    assert!(status.success());
    let (status, _) = up.terminate().await;
    assert!(status.success());
}
