//! The pipeline behind the APIs, end to end: matching, delivery, ingestion, tenancy and
//! fairness on `Pipeline`, the platform started in this process, embedded (in-process
//! bus and snapshot, SQLite) or distributed (Tansu, Redis, Postgres), with taps on
//! `alerts.matched` and the dead-letter topics; failover, faults and metrics on every
//! service as its own process; `alerting produce`; and the test broker itself.

use alerting_handlers::ports::{IncomingMessage, Subscription};
/// Runs each named `async fn(Mode)` embedded and distributed.
macro_rules! on_both_modes {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Mode::Embedded).await;
                }
            )*
        }
        mod distributed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Mode::Distributed).await;
                }
            )*
        }
    };
}

mod alert_producer;
mod alertmanager;
mod broker;
mod dedup_race;
mod delivery;
mod failover;
mod fairness;
mod faults;
mod grafana;
mod matching;
mod metrics;
mod pagerduty;
mod produce;
mod prometheus;
mod repeats;
mod resolutions;
mod silences;
mod sns;
mod tenancy;
mod tools;
mod transports;

use std::{collections::BTreeSet, time::Duration};

use alerting::{
    adapters::kafka::Kafka,
    config::{
        AlertProducerConfig, DatabaseConfig, DeliveryConfig, KafkaConfig, MatchingConfig,
        RedisConfig, RuleServiceConfig,
    },
    platform::{self, RunningPlatform},
    runners::shutdown::Shutdown,
};
use alerting_handlers::{
    events::{AlertMatchedEvent, topics},
    integrations::sns::SnsHosts,
};
use rdkafka::{
    ClientConfig, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use alerting_test_support::database::{Backend, TestDatabase};

/// Far beyond any healthy wait; only a broken pipeline reaches it.
pub const PATIENCE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Distributed,
}

pub use alerting_test_support::process::test_broker;

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Names this test's topics, consumer groups and Redis keys apart from every other's.
pub struct Isolation {
    pub id: String,
}

impl Isolation {
    pub fn new() -> Self {
        Self {
            id: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        }
    }

    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            brokers: Some(test_broker()),
            security: Default::default(),
            session_timeout: Duration::from_secs(6),
            flow: alerting::config::KafkaFlow {
                fetch_wait_max: Duration::from_millis(500),
                topic_partitions: topics::PARTITIONS,
                linger: Duration::ZERO,
            },
            consumer_queue_kb: 4096,
            topic_prefix: format!("{}.", self.id),
            group_prefix: format!("{}-", self.id),
            replication_factor: 1,
            message_timeout: Duration::from_secs(30),
        }
    }

    pub fn redis(&self) -> RedisConfig {
        RedisConfig {
            redis_url: Some(redis_url()),
            redis_key_prefix: self.id.clone(),
            ..RedisConfig::none()
        }
    }

    /// The same settings as environment variables, for the binary.
    pub fn env(&self, database_url: &str) -> Vec<(String, String)> {
        let kafka = self.kafka();
        [
            ("DATABASE_URL", database_url.to_owned()),
            ("KAFKA_BROKERS", test_broker()),
            (
                "KAFKA_SESSION_TIMEOUT",
                alerting::config::describe(kafka.session_timeout),
            ),
            ("KAFKA_TOPIC_PREFIX", kafka.topic_prefix),
            ("KAFKA_CONSUMER_GROUP_PREFIX", kafka.group_prefix),
            ("REDIS_URL", redis_url()),
            ("REDIS_KEY_PREFIX", self.id.clone()),
            ("SNAPSHOT_POLL_INTERVAL", "200ms".to_owned()),
            ("RULE_UPDATER_LEASE_TTL", "3s".to_owned()),
            ("OUTBOX_POLL_INTERVAL", "100ms".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// The test admin token, and no ingestion limit.
pub fn test_auth() -> alerting::config::AuthConfig {
    alerting::config::AuthConfig {
        admin_token: Some(alerting_test_support::ADMIN_TOKEN.to_owned()),
        ingest_rate_limit: 0,
    }
}

/// Quick retries and short timeouts, so failure tests finish fast.
pub fn fast_delivery(smtp_url: Option<String>) -> DeliveryConfig {
    DeliveryConfig {
        delivery_timeout: Duration::from_secs(1),
        delivery_max_attempts: 5,
        delivery_backoff: Duration::from_millis(50),
        delivery_max_backoff: Duration::from_secs(5),
        sender_concurrency: 32,
        sender_concurrency_per_endpoint: 8,
        sender_batches_in_flight: 8,
        sender_batch_wait: Duration::from_millis(500),
        circuit_breaker_failures: 10,
        circuit_breaker_cooldown: Duration::from_secs(2),
        smtp_url,
        email_from: "Alerting <alerting@sink.test>".to_owned(),
        max_deliveries_per_notification: 25,
        redrive_after: Duration::from_secs(300),
        redrive_interval: Duration::from_secs(60),
    }
}

pub fn fast_matching() -> MatchingConfig {
    MatchingConfig {
        snapshot_rebuild_interval: Duration::from_secs(300),
        snapshot_poll_interval: Duration::from_millis(200),
        lease_ttl: Duration::from_secs(3),
        outbox_poll_interval: Duration::from_millis(100),
        consumer_batch_size: 500,
    }
}

/// A consumer reading a topic from the start, in its own group.
pub struct Tap {
    subscription: Box<dyn Subscription>,
}

impl Tap {
    /// Waits for `count` messages (or fails after PATIENCE).
    pub async fn take(&mut self, count: usize) -> Vec<IncomingMessage> {
        let mut taken = Vec::new();
        let outcome = tokio::time::timeout(PATIENCE, async {
            while taken.len() < count {
                let batch = self
                    .subscription
                    .next_batch(count - taken.len())
                    .await
                    .expect("consume");
                taken.extend(batch);
            }
        })
        .await;
        assert!(
            outcome.is_ok(),
            "waited for {count} messages, got {}: {taken:#?}",
            taken.len()
        );
        taken
    }

    /// Nothing arrives within `quiet`.
    pub async fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(batch) = tokio::time::timeout(quiet, self.subscription.next_batch(100)).await {
            panic!("unexpected messages: {batch:#?}");
        }
    }
}

pub fn decode_matches(deliveries: &[IncomingMessage]) -> Vec<AlertMatchedEvent> {
    deliveries
        .iter()
        .map(|d| AlertMatchedEvent::decode(&d.payload).expect("a valid alerts.matched message"))
        .collect()
}

/// What a match says, for comparing sets: (alert, client, sorted rules).
pub type MatchKey = (String, String, Vec<String>);

pub fn keys(matches: &[AlertMatchedEvent]) -> BTreeSet<MatchKey> {
    matches
        .iter()
        .map(|m| {
            let mut rules: Vec<String> = m.rule_ids.iter().map(ToString::to_string).collect();
            rules.sort();
            (m.alert.alert_id.clone(), m.client_id.clone(), rules)
        })
        .collect()
}

/// A tap made when first read. On Kafka it reads its topic from the start whenever it
/// is made, and a test that never reads it makes no consumer: librdkafka can hang
/// dropping a consumer whose group assignment it never polled.
enum LazyTap {
    Ready(Tap),
    Kafka(Box<KafkaConfig>, String),
}

impl LazyTap {
    fn get(&mut self) -> &mut Tap {
        if let Self::Kafka(kafka, topic) = self {
            // A group of its own: a member of a shared group that is not being polled
            // would hold up the group's rebalance when this one joins.
            let group = format!("test-tap-{topic}");
            let subscription = Kafka::unchecked(kafka)
                .subscribe(&group, topic)
                .expect("tap");
            *self = Self::Ready(Tap {
                subscription: Box::new(subscription),
            });
        }
        match self {
            Self::Ready(tap) => tap,
            Self::Kafka(..) => unreachable!("made just now"),
        }
    }
}

/// The platform, started in this process, with taps on what it publishes.
pub struct Pipeline {
    pub mode: Mode,
    pub rule_service: String,
    pub alert_producer: String,
    pub isolation: Isolation,
    pub running: Option<RunningPlatform>,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    matched: LazyTap,
    dead_letters: LazyTap,
    _data_dir: tempfile::TempDir,
    _servers: Box<dyn std::any::Any + Send + Sync>,
}

/// Where the platform keeps its state, and the servers behind it (kept running for as
/// long as the pipeline).
pub struct Backing {
    pub database_url: String,
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub servers: Box<dyn std::any::Any + Send + Sync>,
}

impl Pipeline {
    pub async fn start(mode: Mode) -> Self {
        Self::start_with(mode, fast_delivery(None)).await
    }

    pub async fn start_with(mode: Mode, delivery: DeliveryConfig) -> Self {
        let isolation = Isolation::new();
        let backend = match mode {
            Mode::Embedded => Backend::Sqlite,
            Mode::Distributed => Backend::Postgres,
        };
        let (database, database_url) = TestDatabase::create(backend).await;
        let (kafka, redis) = match mode {
            Mode::Embedded => (
                KafkaConfig {
                    brokers: None,
                    ..isolation.kafka()
                },
                RedisConfig {
                    redis_url: None,
                    ..isolation.redis()
                },
            ),
            Mode::Distributed => (isolation.kafka(), isolation.redis()),
        };
        let backing = Backing {
            database_url,
            kafka,
            redis,
            servers: Box::new(database),
        };
        Self::start_on(mode, isolation, backing, delivery).await
    }

    /// The platform on backends the test chose (servers of its own, kept until the
    /// pipeline is dropped).
    pub async fn start_on(
        mode: Mode,
        isolation: Isolation,
        backing: Backing,
        delivery: DeliveryConfig,
    ) -> Self {
        let Backing {
            database_url,
            kafka,
            redis,
            servers,
        } = backing;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config = alerting::config::Settings {
            database: DatabaseConfig {
                database_url: Some(database_url.clone()),
                data_dir: data_dir.path().to_owned(),
                database_max_connections: Some(5),
            },
            rule_service: RuleServiceConfig {
                rule_service_addr: "127.0.0.1:0".parse().expect("addr"),
                quotas: Default::default(),
            },
            alert_producer: AlertProducerConfig {
                alert_producer_addr: "127.0.0.1:0".parse().expect("addr"),
                // The defaults.
                ingest_max_backlog: 20_000,
                ingest_backlog_wait: Duration::from_secs(2),
                // SNS as the tests play it (tests/api/pipeline/sns.rs).
                sns: alerting::config::SnsConfig {
                    sns_hosts: SnsHosts::parse("localhost").expect("a host"),
                    sns_ca_file: Some(alerting_test_support::sns::shared_ca().1.clone()),
                },
            },
            kafka: kafka.clone(),
            redis,
            matching: fast_matching(),
            delivery,
            auth: test_auth(),
            targets: alerting::config::TargetConfig {
                allow_private_endpoints: true,
            },
            http: alerting::config::HttpConfig::default(),
            metrics: test_metrics(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Shutdown::on(async move {
            let _ = stopped.await;
        });
        let running = platform::start(&config, shutdown)
            .await
            .expect("the platform starts");
        let dead_letter_topic = topics::dead_letters(topics::ALERTS_NEW);
        let (matched, dead_letters) = match running.backends.embedded_bus() {
            // A tap hands what is published from then on, and commits nothing.
            Some(bus) => (
                LazyTap::Ready(Tap {
                    subscription: Box::new(bus.tap(topics::ALERTS_MATCHED)),
                }),
                LazyTap::Ready(Tap {
                    subscription: Box::new(bus.tap(&dead_letter_topic)),
                }),
            ),
            None => (
                LazyTap::Kafka(Box::new(kafka.clone()), topics::ALERTS_MATCHED.to_owned()),
                LazyTap::Kafka(Box::new(kafka.clone()), dead_letter_topic),
            ),
        };
        Self {
            mode,
            rule_service: format!("http://{}", running.rule_service),
            alert_producer: format!("http://{}", running.alert_producer),
            isolation,
            running: Some(running),
            http: alerting_test_support::http(),
            stop: Some(stop),
            matched,
            dead_letters,
            _data_dir: data_dir,
            _servers: servers,
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_as(None, method, url, body).await
    }

    /// A call with `token` (a client's key) instead of the admin token.
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self
            .call(method.clone(), format!("{}{path}", self.rule_service), body)
            .await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    pub async fn client(&self, client_id: &str) {
        self.api(
            reqwest::Method::POST,
            "/api/v1/clients",
            Some(json!({"client_id": client_id})),
        )
        .await;
    }

    /// Creates a rule; returns its id.
    pub async fn rule(&self, client_id: &str, severity: &str, source: &str, name: &str) -> String {
        let rule = self
            .api(
                reqwest::Method::POST,
                "/api/v1/rules",
                Some(json!({"client_id": client_id, "severity": severity, "source": source, "name": name})),
            )
            .await;
        rule["rule_id"].as_str().expect("rule_id").to_owned()
    }

    /// Sends alerts through the alert-producer; returns their ids.
    pub async fn send(&self, alerts: Value) -> Vec<String> {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                format!("{}/api/v1/alerts", self.alert_producer),
                Some(alerts),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["alert_ids"]
            .as_array()
            .expect("alert_ids")
            .iter()
            .map(|id| id.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits until the evaluator runs with a snapshot holding `rules` rules.
    pub async fn wait_for_rules(&self, rules: usize) {
        let store = &self.running.as_ref().expect("running").backends.store;
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                if let Ok(Some(encoded)) = store.load().await
                    && encoded
                        .decode()
                        .is_ok_and(|snapshot| snapshot.len() == rules)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "the snapshot never held {rules} rules");
        // The contract: a rule change is matched within 2 s. Allow for exactly that.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    pub async fn matches(&mut self, count: usize) -> Vec<AlertMatchedEvent> {
        decode_matches(&self.matched.get().take(count).await)
    }

    pub async fn dead_letters(&mut self, count: usize) -> Vec<IncomingMessage> {
        self.dead_letters.get().take(count).await
    }

    /// After the expected matches have been read: proves there are no others.
    /// Embedded, a sentinel alert goes through the one ordered queue after everything
    /// else. Distributed, the evaluator's group must first have committed all
    /// `sent` alerts (so it has published every match, acknowledged); then nothing
    /// more may arrive within a fetch cycle or two.
    pub async fn assert_no_other_matches(&mut self, sent: usize) {
        match self.mode {
            Mode::Embedded => {
                let sentinel = self
                    .send(json!({"severity": "CRITICAL", "source": "sentinel", "name": "end"}))
                    .await;
                let next = self.matches(1).await;
                assert_eq!(next.len(), 1);
                assert_eq!(
                    next[0].alert.alert_id, sentinel[0],
                    "an unexpected match: {next:?}"
                );
            }
            Mode::Distributed => {
                let kafka = self.isolation.kafka();
                wait_until_consumed(&kafka, "evaluator", topics::ALERTS_NEW, sent).await;
                self.matched
                    .get()
                    .assert_quiet(Duration::from_secs(2))
                    .await;
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn admin_consumer(kafka: &KafkaConfig, group: Option<&str>) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config.set(
        "bootstrap.servers",
        kafka.brokers.clone().unwrap_or_default(),
    );
    if let Some(group) = group {
        config.set("group.id", group);
    }
    config.create().expect("consumer")
}

/// How many messages of `topic` `service`'s group has committed (the sum of its
/// committed offsets: offsets count messages from 0 in each partition).
fn committed_messages(consumer: &BaseConsumer, topic: &str) -> i64 {
    let mut list = TopicPartitionList::new();
    for partition in 0..topics::PARTITIONS {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed");
    (0..topics::PARTITIONS)
        .filter_map(|partition| {
            committed
                .find_partition(topic, partition)
                .and_then(|p| p.offset().to_raw())
                .filter(|offset| *offset > 0)
        })
        .sum()
}

/// A client that reads `service`'s group offsets, and the name `topic` has on the broker.
fn group_reader(kafka: &KafkaConfig, service: &str, topic: &str) -> (BaseConsumer, String) {
    let group = format!("{}{service}", kafka.group_prefix);
    let physical = format!("{}{topic}", kafka.topic_prefix);
    (admin_consumer(kafka, Some(&group)), physical)
}

/// The messages of `topic` that `service`'s group has committed, now.
pub async fn consumed(kafka: &KafkaConfig, service: &str, topic: &str) -> usize {
    let (consumer, physical) = group_reader(kafka, service, topic);
    tokio::task::spawn_blocking(move || committed_messages(&consumer, &physical) as usize)
        .await
        .expect("joined")
}

/// Waits until `service`'s group has committed `messages` messages of `topic`.
pub async fn wait_until_consumed(kafka: &KafkaConfig, service: &str, topic: &str, messages: usize) {
    let (consumer, physical) = group_reader(kafka, service, topic);
    let caught_up = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            if committed_messages(&consumer, &physical) >= messages as i64 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })
    .await
    .expect("joined");
    assert!(caught_up, "{service} never caught up with {topic}");
}

/// The metrics settings at their defaults: nothing exported.
pub fn test_metrics() -> alerting::config::MetricsConfig {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        metrics: alerting::config::MetricsConfig,
    }
    <Defaults as clap::Parser>::parse_from(["test"]).metrics
}
