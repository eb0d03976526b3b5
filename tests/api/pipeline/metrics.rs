//! Every service as its own process, as on ECS: `/metrics` of each one shows its
//! counters moving while alerts go through, and the alert-producer pushes its counts to
//! a CloudWatch (a fake one here, decoding what the AWS SDK sends).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alerting::adapters::kafka::Kafka;
use alerting_test_support::{
    alerting_command,
    database::{Backend, TestDatabase},
    process::Running,
    sinks::HttpSink,
};
use axum::{Router, body::Bytes, routing::post};
use ciborium::Value;
use serde_json::json;
use tokio::net::TcpListener;

use super::{Isolation, PATIENCE};

const ALERTS: usize = 25;

/// The value of one sample (`name` or `name{labels}`) of a Prometheus text page.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().expect("a number"))
        })
        .unwrap_or_else(|| panic!("no sample {name} in:\n{page}"))
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let response = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.expect("text")
}

/// Polls `/metrics` of `base` until `sample` reaches `at_least`.
async fn wait_for_sample(http: &reqwest::Client, base: &str, name: &str, at_least: f64) -> String {
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            let page = scrape(http, base).await;
            if sample(&page, name) >= at_least {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("{name} of {base} never reached {at_least}"))
}

/// (namespace, service, metric name, value) of each datum received.
type Data = Vec<(String, String, String, f64)>;

/// A CloudWatch on loopback: decodes each PutMetricData (Smithy RPC v2 CBOR) and adds
/// up the values of each (service, metric).
#[derive(Clone, Default)]
struct FakeCloudWatch {
    totals: Arc<Mutex<Data>>,
}

impl FakeCloudWatch {
    async fn start(&self) -> String {
        let totals = self.totals.clone();
        let router = Router::new().route(
            "/{*operation}",
            post(move |body: Bytes| {
                let totals = totals.clone();
                async move {
                    let body: Value = ciborium::de::from_reader(body.as_ref()).expect("CBOR");
                    let namespace = text(&body, "Namespace").to_owned();
                    for datum in field(&body, "MetricData")
                        .and_then(Value::as_array)
                        .expect("MetricData")
                    {
                        let service = field(datum, "Dimensions")
                            .and_then(Value::as_array)
                            .and_then(|d| d.iter().find(|d| text(d, "Name") == "Service"))
                            .map(|d| text(d, "Value").to_owned())
                            .unwrap_or_default();
                        let value = match field(datum, "Value") {
                            Some(Value::Float(f)) => *f,
                            Some(Value::Integer(i)) => i128::from(*i) as f64,
                            _ => 0.0,
                        };
                        totals.lock().expect("totals").push((
                            namespace.clone(),
                            service,
                            text(datum, "MetricName").to_owned(),
                            value,
                        ));
                    }
                    (
                        [
                            ("smithy-protocol", "rpc-v2-cbor"),
                            ("content-type", "application/cbor"),
                        ],
                        vec![0xa0_u8],
                    )
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        address
    }

    fn total(&self, namespace: &str, service: &str, metric: &str) -> f64 {
        self.totals
            .lock()
            .expect("totals")
            .iter()
            .filter(|(n, s, m, _)| n == namespace && s == service && m == metric)
            .map(|(.., v)| v)
            .sum()
    }
}

fn field<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn text<'a>(map: &'a Value, key: &str) -> &'a str {
    field(map, key).and_then(Value::as_text).unwrap_or_default()
}

fn address_in(line: &str) -> String {
    let start = line.find("http://").expect("an address");
    line[start..]
        .split(|c: char| c == ',' || c.is_whitespace())
        .next()
        .expect("an address")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_services_metrics_move_as_alerts_go_through() {
    let isolation = Isolation::new();
    Kafka::unchecked(&isolation.kafka())
        .create_topics()
        .await
        .expect("topics");
    let (_database, url) = TestDatabase::create(Backend::Postgres).await;
    let db = alerting::db::connect_url(&url, 1).await.expect("connect");
    alerting::db::migrate(&db).await.expect("migrate");
    let sink = HttpSink::start().await;
    let cloudwatch = FakeCloudWatch::default();
    let cloudwatch_url = cloudwatch.start().await;
    let dir = tempfile::tempdir().expect("dir");
    let http = alerting_test_support::http();
    let service = |args: &[&str], extra: &[(&str, &str)]| {
        let mut command = alerting_command!(dir.path());
        command
            .envs(isolation.env(&url))
            .env("METRICS_ADDR", "127.0.0.1:0")
            .envs(extra.iter().copied())
            .args(args);
        Running::start(command)
    };

    let mut rule_service = service(&["serve", "rule-service"], &[]);
    let rules_url = address_in(&rule_service.wait_for_line("rule-service on http://").await);
    let mut alert_producer = service(
        &["serve", "alert-producer"],
        &[
            ("CLOUDWATCH_METRICS", "true"),
            ("CLOUDWATCH_ENDPOINT_URL", &cloudwatch_url),
            ("CLOUDWATCH_INTERVAL", "1s"),
            ("CLOUDWATCH_NAMESPACE", "Test/Alerting"),
            ("ENVIRONMENT", "test"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
    );
    let producer_url = address_in(
        &alert_producer
            .wait_for_line("alert-producer on http://")
            .await,
    );
    let mut consumers = Vec::new();
    for name in ["rule-updater", "evaluator", "aggregator", "sender"] {
        let mut running = service(&["run", name], &[]);
        let line = running
            .wait_for_line("/health and /metrics on http://")
            .await;
        consumers.push((name, address_in(&line), running));
    }
    let metrics_url = |wanted: &str| {
        consumers
            .iter()
            .find(|(name, ..)| *name == wanted)
            .map(|(_, url, _)| url.clone())
            .expect("a consumer")
    };
    let health = http
        .get(format!("{}/health", metrics_url("sender")))
        .send()
        .await
        .expect("health answers");
    assert_eq!(health.status(), 200);

    // The rule arrives after the rule-updater's first snapshot: a change it applies.
    wait_for_sample(
        &http,
        &metrics_url("rule-updater"),
        "alerting_snapshots_written_total",
        1.0,
    )
    .await;
    let post = |path: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let response = http.post(path).json(&body).send().await.expect("sent");
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<serde_json::Value>().await.expect("json")
        }
    };
    post(
        format!("{rules_url}/api/v1/clients"),
        json!({"client_id": "acme"}),
    )
    .await;
    let rule = post(
        format!("{rules_url}/api/v1/rules"),
        json!({"client_id": "acme", "severity": "*", "source": "*", "name": "*"}),
    )
    .await;
    let rule_id = rule["rule_id"].as_str().expect("rule_id").to_owned();
    post(
        format!("{rules_url}/api/v1/rules/{rule_id}/endpoints"),
        json!({"type": "webhook", "value": sink.url("metrics")}),
    )
    .await;
    let updater = wait_for_sample(
        &http,
        &metrics_url("rule-updater"),
        "alerting_rule_changes_applied_total",
        1.0,
    )
    .await;
    assert_eq!(
        sample(&updater, "alerting_snapshot_rules"),
        1.0,
        "{updater}"
    );
    assert!(
        sample(&updater, "alerting_snapshots_written_total") >= 2.0,
        "{updater}"
    );
    // The evaluator polls the snapshot every 200 ms; it matches once it holds the
    // rule. One probe at a time, each evaluated before the next, so that none is
    // still on its way when the counts below are taken.
    let evaluator_url = metrics_url("evaluator");
    let waited = tokio::time::timeout(PATIENCE, async {
        let mut probes = 0.0;
        loop {
            let response = http
                .post(format!("{producer_url}/api/v1/alerts"))
                .json(&json!({"alert_id": "probe", "severity": "low", "source": "s", "name": "n"}))
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 202);
            probes += 1.0;
            loop {
                let page = scrape(&http, &evaluator_url).await;
                let matched = sample(&page, "alerting_alerts_matched_total");
                if matched + sample(&page, "alerting_alerts_unmatched_total") >= probes {
                    if matched >= 1.0 {
                        return;
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the evaluator never matched the probe");
    sink.wait_for("metrics", 1).await;

    let before: Vec<String> = {
        let mut pages = Vec::new();
        for (_, url, _) in &consumers {
            pages.push(scrape(&http, url).await);
        }
        pages
    };
    let producer_before = scrape(&http, &producer_url).await;
    let rules_before = scrape(&http, &rules_url).await;

    let alerts: Vec<serde_json::Value> = (0..ALERTS)
        .map(|n| json!({"alert_id": format!("m-{n}"), "severity": "HIGH", "source": "payments", "name": "declined"}))
        .collect();
    let response = http
        .post(format!("{producer_url}/api/v1/alerts"))
        .json(&alerts)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    sink.wait_for("metrics", ALERTS + 1).await;
    let listed = http
        .get(format!("{rules_url}/api/v1/notifications?client_id=acme"))
        .send()
        .await
        .expect("listed");
    assert_eq!(listed.status(), 200);

    let n = ALERTS as f64;
    let moved = |before: &str, after: &str, name: &str| sample(after, name) - sample(before, name);
    let producer_after = scrape(&http, &producer_url).await;
    assert_eq!(
        moved(
            &producer_before,
            &producer_after,
            "alerting_alerts_received_total"
        ),
        n
    );
    assert!(
        moved(
            &producer_before,
            &producer_after,
            "alerting_http_responses_total{class=\"2xx\"}"
        ) >= 1.0
    );
    let rules_after = scrape(&http, &rules_url).await;
    assert!(
        moved(
            &rules_before,
            &rules_after,
            "alerting_http_responses_total{class=\"2xx\"}"
        ) >= 1.0
    );

    let expectations: [(&str, &str); 4] = [
        ("rule-updater", "alerting_snapshots_written_total"),
        ("evaluator", "alerting_alerts_matched_total"),
        ("aggregator", "alerting_notifications_created_total"),
        ("sender", "alerting_deliveries_delivered_total"),
    ];
    for (((name, url, _), before), (expected_name, counter)) in
        consumers.iter().zip(&before).zip(expectations)
    {
        assert_eq!(*name, expected_name);
        // The snapshot is rewritten on changes and rebuilds only; the others count
        // every alert, and are read once the last delivery is seen, so they may
        // still be catching up on their own bookkeeping: wait for them.
        let target = if *name == "rule-updater" {
            sample(before, counter)
        } else {
            sample(before, counter) + n
        };
        let after = wait_for_sample(&http, url, counter, target).await;
        if *name != "rule-updater" {
            assert_eq!(sample(&after, counter), target, "{name}: {counter}");
        }
        if *name == "sender" {
            assert_eq!(
                moved(before, &after, "alerting_delivery_latency_seconds_count"),
                n
            );
            assert_eq!(sample(&after, "alerting_deliveries_failed_total"), 0.0);
        }
        if *name == "evaluator" {
            assert_eq!(
                moved(before, &after, "alerting_alerts_unmatched_total"),
                0.0
            );
        }
    }

    // The alert-producer's counts reach CloudWatch too (pushed every second).
    let pushed = tokio::time::timeout(PATIENCE, async {
        while cloudwatch.total("Test/Alerting", "alert-producer", "AlertsReceived") < n + 1.0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        pushed.is_ok(),
        "CloudWatch got {} AlertsReceived, wanted {}",
        cloudwatch.total("Test/Alerting", "alert-producer", "AlertsReceived"),
        n + 1.0
    );

    for (_, _, running) in consumers {
        let (status, output) = running.terminate().await;
        assert!(status.success(), "{output:#?}");
    }
    for running in [rule_service, alert_producer] {
        let (status, output) = running.terminate().await;
        assert!(status.success(), "{output:#?}");
    }
}
