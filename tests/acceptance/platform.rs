//! The platform as a user runs it: `alerting up` (embedded), or every service as its
//! own process on Tansu, Redis and Postgres (distributed). Started once per mode;
//! scenarios keep apart by naming everything with their own prefix.

use std::time::Duration;

use alerting_test_support::{
    alerting_command,
    database::{Backend, TestDatabase},
    process::{Running, run, test_broker},
    sinks::{HttpSink, SmtpSink},
};
use tokio::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Distributed,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Distributed => "distributed",
        }
    }
}

pub struct Platform {
    pub mode: Mode,
    pub rule_service: String,
    pub alert_producer: String,
    pub sink: HttpSink,
    pub smtp: SmtpSink,
    pub http: reqwest::Client,
    processes: Vec<Running>,
    _data_dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

/// Settings every process of the suite shares.
fn common_env(smtp: &SmtpSink) -> Vec<(String, String)> {
    [
        ("SMTP_URL", smtp.url()),
        (
            "EMAIL_FROM",
            "Alerting <alerting@acceptance.test>".to_owned(),
        ),
        ("DELIVERY_TIMEOUT", "1s".to_owned()),
        ("DELIVERY_MAX_ATTEMPTS", "3".to_owned()),
        ("DELIVERY_BACKOFF", "50ms".to_owned()),
        ("SNAPSHOT_POLL_INTERVAL", "200ms".to_owned()),
        ("OUTBOX_POLL_INTERVAL", "100ms".to_owned()),
        ("RULE_UPDATER_LEASE_TTL", "3s".to_owned()),
        ("KAFKA_SESSION_TIMEOUT", "6s".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Platform {
    pub async fn start(mode: Mode) -> Self {
        let sink = HttpSink::start().await;
        let smtp = SmtpSink::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let env = common_env(&smtp);
        match mode {
            Mode::Embedded => {
                let mut command = alerting_command!(dir.path());
                command.envs(env).arg("up");
                let mut up = Running::start(command);
                let (rule_service, alert_producer) = up.addresses().await;
                Self {
                    mode,
                    rule_service: format!("http://{rule_service}"),
                    alert_producer: format!("http://{alert_producer}"),
                    sink,
                    smtp,
                    http: alerting_test_support::http(),
                    processes: vec![up],
                    _data_dir: dir,
                    _database: None,
                }
            }
            Mode::Distributed => {
                let (database, url) = TestDatabase::create(Backend::Postgres).await;
                let prefix = format!("acc{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                let mut env = env;
                env.extend(
                    [
                        ("DATABASE_URL", url),
                        ("KAFKA_BROKERS", test_broker()),
                        ("KAFKA_TOPIC_PREFIX", format!("{prefix}.")),
                        ("KAFKA_CONSUMER_GROUP_PREFIX", format!("{prefix}-")),
                        ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
                        ("REDIS_KEY_PREFIX", prefix),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v)),
                );
                let one_off = |args: &[&str]| {
                    let mut command: Command = alerting_command!(dir.path());
                    command.envs(env.clone()).args(args);
                    command
                };
                for args in [&["migrate"][..], &["topics", "create"]] {
                    let (code, output) = run(one_off(args)).await;
                    assert_eq!(code, Some(0), "alerting {args:?}: {output}");
                }
                let start = |args: &[&str]| {
                    let mut command = alerting_command!(dir.path());
                    command.envs(env.clone()).args(args);
                    Running::start(command)
                };
                let mut rule_service = start(&["serve", "rule-service"]);
                let rule_address = rule_service.address().await;
                let mut alert_producer = start(&["serve", "alert-producer"]);
                let producer_line = alert_producer
                    .wait_for_line("alert-producer on http://")
                    .await;
                let producer_address = producer_line
                    .split("http://")
                    .nth(1)
                    .and_then(|rest| rest.split([',', ' ']).next())
                    .expect("address")
                    .to_owned();
                let mut updater = start(&["run", "rule-updater"]);
                updater.wait_for_line("rule snapshot written").await;
                let mut evaluator = start(&["run", "evaluator"]);
                evaluator.wait_for_line("matching with rule snapshot").await;
                let mut aggregator = start(&["run", "aggregator"]);
                aggregator.wait_for_line("aggregator started").await;
                let mut sender = start(&["run", "sender"]);
                sender.wait_for_line("sender started").await;
                let platform = Self {
                    mode,
                    rule_service: format!("http://{rule_address}"),
                    alert_producer: format!("http://{producer_address}"),
                    sink,
                    smtp,
                    http: alerting_test_support::http(),
                    processes: vec![
                        rule_service,
                        alert_producer,
                        updater,
                        evaluator,
                        aggregator,
                        sender,
                    ],
                    _data_dir: dir,
                    _database: Some(database),
                };
                platform.warm_up().await;
                platform
            }
        }
    }

    /// Consumers in a fresh group get their partitions only after the group settles;
    /// one alert through the whole pipeline shows that it has.
    async fn warm_up(&self) {
        let post = |path: &str, body: serde_json::Value| {
            self.http
                .post(format!("{}{path}", self.rule_service))
                .json(&body)
                .send()
        };
        post(
            "/api/v1/clients",
            serde_json::json!({"client_id": "warm-up"}),
        )
        .await
        .expect("client");
        let rule: serde_json::Value = post(
            "/api/v1/rules",
            serde_json::json!({"client_id": "warm-up", "severity": "*", "source": "warm-up", "name": "*"}),
        )
        .await
        .expect("rule")
        .json()
        .await
        .expect("json");
        let rule_id = rule["rule_id"].as_str().expect("rule id");
        post(
            &format!("/api/v1/rules/{rule_id}/endpoints"),
            serde_json::json!({"type": "webhook", "value": self.sink.url("warm-up")}),
        )
        .await
        .expect("endpoint");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        while self.sink.received("warm-up").is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the distributed platform never delivered"
            );
            self.http
                .post(format!("{}/api/v1/alerts", self.alert_producer))
                .json(&serde_json::json!({"severity": "LOW", "source": "warm-up", "name": "ping"}))
                .send()
                .await
                .expect("alert");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    pub async fn stop(self) {
        for process in self.processes.into_iter().rev() {
            let (status, output) = process.terminate().await;
            if !status.success() {
                eprintln!("a process exited with {status:?}: {output:#?}");
            }
        }
    }
}
