//! Services as separate processes on Kafka, Redis and Postgres: an evaluator killed in
//! the middle of a stream or leaving its group, and two rule-updaters handing over the
//! snapshot.

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alerting::adapters::{
    kafka::{Kafka, KafkaBus, KafkaSubscription},
    redis_snapshot::RedisSnapshotStore,
};
use alerting_handlers::ports::Subscription;
use alerting_handlers::{
    domain::{Alert, Severity},
    events::{AlertEvent, AlertMatchedEvent, topics},
    matching::Snapshot,
    ports::{Bus, SnapshotStore},
};
use alerting_test_support::{
    alerting_command,
    database::{Backend, TestDatabase},
    process::Running,
    sinks::HttpSink,
};
use serde_json::json;
use tokio::net::TcpListener;

use super::{Isolation, PATIENCE, redis_url, test_broker};

/// A Postgres database with the schema, and a rule-service on it in this process.
pub(super) struct Rules {
    pub(super) url: String,
    http: reqwest::Client,
    address: String,
    _database: TestDatabase,
}

impl Rules {
    pub(super) async fn start() -> Self {
        let (database, url) = TestDatabase::create(Backend::Postgres).await;
        let db = alerting::db::connect_url(&url, 3).await.expect("connect");
        alerting::db::migrate(&db).await.expect("migrate");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        let router = alerting_handlers::http::rule_service::router(
            db,
            alerting_handlers::http::rule_service::RuleServiceSettings::local(
                alerting_test_support::ADMIN_TOKEN,
            ),
        );
        tokio::spawn(alerting::runners::http::serve(
            listener,
            router,
            std::future::pending(),
        ));
        Self {
            url,
            http: alerting_test_support::http(),
            address,
            _database: database,
        }
    }

    pub(super) async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let request = self
            .http
            .post(format!("{}{path}", self.address))
            .json(&body);
        Self::answer(request, path).await
    }

    /// A connection to its database, as the services have.
    pub(super) async fn connect(&self) -> sea_orm::DatabaseConnection {
        alerting::db::connect_url(&self.url, 2)
            .await
            .expect("connect")
    }

    pub(super) async fn get(&self, path: &str) -> serde_json::Value {
        let request = self.http.get(format!("{}{path}", self.address));
        Self::answer(request, path).await
    }

    /// The JSON of a successful answer.
    async fn answer(request: reqwest::RequestBuilder, path: &str) -> serde_json::Value {
        let response = request.send().await.expect("sent");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    pub(super) async fn rule(
        &self,
        client: &str,
        severity: &str,
        source: &str,
        name: &str,
    ) -> String {
        let rule = self
            .post(
                "/api/v1/rules",
                json!({"client_id": client, "severity": severity, "source": source, "name": name}),
            )
            .await;
        rule["rule_id"].as_str().expect("id").to_owned()
    }
}

/// A rule written straight into the database: no outbox row, no event.
pub(super) async fn insert_rule_directly(
    db: &sea_orm::DatabaseConnection,
    client: &str,
    severity: &str,
    source: &str,
) -> alerting_entities::rules::Model {
    use sea_orm::{ActiveModelTrait as _, ActiveValue::Set};
    let now = chrono::Utc::now();
    alerting_entities::rules::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        client_id: Set(client.to_owned()),
        severity: Set(severity.to_owned()),
        source: Set(source.to_owned()),
        name: Set("*".to_owned()),
        enabled: Set(true),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        repeat_interval_seconds: Set(None),
        auto_resolve_after_seconds: Set(None),
    }
    .insert(db)
    .await
    .expect("a rule")
}

/// The notifications stored so far.
pub(super) async fn stored_notifications(db: &sea_orm::DatabaseConnection) -> usize {
    use sea_orm::{EntityTrait as _, PaginatorTrait as _};
    alerting_entities::notifications::Entity::find()
        .count(db)
        .await
        .expect("count") as usize
}

/// Waits until `count` notifications are stored.
pub(super) async fn wait_until_stored(db: &sea_orm::DatabaseConnection, count: usize) {
    let reached = tokio::time::timeout(PATIENCE, async {
        while stored_notifications(db).await < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "{} of {count} notifications stored",
        stored_notifications(db).await
    );
}

/// Topics under a fresh prefix, a rule-service on a fresh database, and a directory
/// for the services' files.
async fn fresh_setup() -> (Isolation, Rules, tempfile::TempDir) {
    let isolation = Isolation::new();
    Kafka::unchecked(&isolation.kafka())
        .create_topics()
        .await
        .expect("topics");
    let rules = Rules::start().await;
    (isolation, rules, tempfile::tempdir().expect("dir"))
}

/// A rule-updater, client `acme` and its rule for HIGH alerts from payments, in the
/// snapshot; the rule-updater and the rule's id.
async fn matching_setup(
    isolation: &Isolation,
    rules: &Rules,
    dir: &std::path::Path,
) -> (Running, String) {
    let mut updater = service(isolation, &rules.url, &["run", "rule-updater"], dir);
    updater.wait_for_line("rule snapshot written").await;
    rules
        .post("/api/v1/clients", json!({"client_id": "acme"}))
        .await;
    let rule = rules.rule("acme", "HIGH", "payments", "*").await;
    let store = RedisSnapshotStore::new(&redis_url(), &isolation.id).expect("store");
    wait_for_snapshot(&store, &[&rule]).await;
    (updater, rule)
}

fn service(
    isolation: &Isolation,
    database_url: &str,
    args: &[&str],
    dir: &std::path::Path,
) -> Running {
    let mut command = alerting_command!(dir);
    command.envs(isolation.env(database_url)).args(args);
    Running::start(command)
}

pub(super) async fn wait_for_snapshot(store: &RedisSnapshotStore, rule_ids: &[&str]) {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Ok(Some(encoded)) = store.load().await
                && let Ok(snapshot) = Snapshot::decode(&encoded)
            {
                let ids: BTreeSet<String> = snapshot
                    .rules
                    .iter()
                    .map(|r| r.rule_id.to_string())
                    .collect();
                if rule_ids.iter().all(|id| ids.contains(*id)) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "the snapshot never held {rule_ids:?}");
}

pub(super) fn alert(n: usize) -> Alert {
    Alert {
        owner: None,
        alert_id: format!("stream-{n}"),
        event_ts: chrono::Utc::now(),
        severity: Severity::High,
        source: "payments".to_owned(),
        name: "declined".to_owned(),
        context: Default::default(),
        dedup_key: None,
        status: Default::default(),
    }
}

/// Publishes the stream's alerts `numbers` as one batch.
pub(super) async fn publish_stream(bus: &KafkaBus, numbers: std::ops::Range<usize>) {
    let batch = numbers.map(|n| AlertEvent::message(&alert(n))).collect();
    bus.publish(batch)
        .await
        .expect("published (the producer retries through outages)");
}

/// What the evaluators matched, read from `alerts.matched` by a consumer group of the
/// test's own.
struct MatchedTap {
    subscription: KafkaSubscription,
    /// Each matched event must name exactly this rule.
    rule: String,
    seen: BTreeSet<String>,
    events: usize,
}

impl MatchedTap {
    fn new(kafka: &alerting::config::KafkaConfig, rule: &str) -> Self {
        Self {
            subscription: Kafka::unchecked(kafka)
                .subscribe("test-tap", topics::ALERTS_MATCHED)
                .expect("tap"),
            rule: rule.to_owned(),
            seen: BTreeSet::new(),
            events: 0,
        }
    }

    /// Reads until `count` distinct alerts were matched; false if that takes longer
    /// than the tests' patience.
    async fn read_until(&mut self, count: usize) -> bool {
        let read = tokio::time::timeout(PATIENCE, async {
            while self.seen.len() < count {
                for message in self.subscription.next_batch(500).await.expect("batch") {
                    let event = AlertMatchedEvent::decode(&message.payload).expect("decodes");
                    let rules: Vec<String> =
                        event.rule_ids.iter().map(ToString::to_string).collect();
                    assert_eq!(rules, std::slice::from_ref(&self.rule));
                    self.seen.insert(event.alert.alert_id);
                    self.events += 1;
                }
            }
        })
        .await;
        read.is_ok()
    }

    /// Up to ten of the stream's first `total` alerts not matched.
    fn missing(&self, total: usize) -> Vec<String> {
        (0..total)
            .map(|n| format!("stream-{n}"))
            .filter(|id| !self.seen.contains(id))
            .take(10)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluator_killed_mid_stream_loses_no_alert() {
    const TOTAL: usize = 20_000;
    let (isolation, rules, dir) = fresh_setup().await;
    let kafka_config = isolation.kafka();
    let (updater, rule) = matching_setup(&isolation, &rules, dir.path()).await;

    // The whole stream waits before the evaluator starts, so it is killed with work
    // left, and its successor has to resume from what was committed.
    let bus = Kafka::unchecked(&kafka_config).bus().expect("producer");
    for start in (0..TOTAL).step_by(1_000) {
        publish_stream(&bus, start..start + 1_000).await;
    }
    let mut tap = MatchedTap::new(&kafka_config, &rule);
    let mut evaluator = service(&isolation, &rules.url, &["run", "evaluator"], dir.path());
    evaluator.wait_for_line("matching with rule snapshot").await;
    assert!(tap.read_until(1_000).await, "the first evaluator matches");
    evaluator.child.start_kill().expect("SIGKILL");
    let _ = evaluator.child.wait().await;
    let committed = super::consumed(&kafka_config, "evaluator", topics::ALERTS_NEW).await;
    assert!(
        committed < TOTAL,
        "killed with alerts left: {committed} of {TOTAL} committed"
    );
    let at_kill = tap.seen.len();

    let mut restarted = service(&isolation, &rules.url, &["run", "evaluator"], dir.path());
    restarted.wait_for_line("matching with rule snapshot").await;
    let complete = tap.read_until(TOTAL).await;
    let missing = tap.missing(TOTAL);
    assert!(
        complete && missing.is_empty(),
        "alerts never matched, e.g. {missing:?}"
    );
    assert!(
        tap.seen.len() > at_kill,
        "the restarted evaluator carried on"
    );
    eprintln!(
        "{TOTAL} alerts matched; {} events (redelivered after the kill: {})",
        tap.events,
        tap.events - TOTAL
    );

    let (status, _) = restarted.terminate().await;
    assert!(status.success());
    let (status, _) = updater.terminate().await;
    assert!(status.success());
}

/// A consumer group rebalancing mid-stream: a second evaluator joins the first (they
/// share the partitions), then the first leaves (SIGTERM) while alerts still arrive
/// and wait. Its partitions move to the one that stays, which resumes them from their
/// committed offsets: every alert is matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluator_leaving_its_group_mid_stream_hands_its_partitions_over() {
    const BATCH: usize = 2_000;
    let (isolation, rules, dir) = fresh_setup().await;
    let kafka_config = isolation.kafka();
    let (updater, rule) = matching_setup(&isolation, &rules, dir.path()).await;

    // 2,000 alerts every 100 ms, keyed by alert id and so spread over every partition,
    // until after the first evaluator has left: faster than one evaluator matches them
    // (and offsets are committed every 500 ms), so each partition that moves (twice, as
    // the group changes) has alerts waiting past its committed offset.
    let bus = Kafka::unchecked(&kafka_config).bus().expect("producer");
    let going = Arc::new(AtomicBool::new(true));
    let stream = {
        let going = going.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                publish_stream(&bus, sent..sent + BATCH).await;
                sent += BATCH;
                if !going.load(Ordering::Relaxed) {
                    return sent;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut tap = MatchedTap::new(&kafka_config, &rule);

    let mut leaving = service(&isolation, &rules.url, &["run", "evaluator"], dir.path());
    leaving.wait_for_line("matching with rule snapshot").await;
    assert!(tap.read_until(2_000).await, "the first evaluator matches");
    let mut staying = service(&isolation, &rules.url, &["run", "evaluator"], dir.path());
    staying.wait_for_line("matching with rule snapshot").await;
    assert!(
        tap.read_until(tap.seen.len() + 2_000).await,
        "the two match together"
    );
    let (status, _) = leaving.terminate().await;
    assert!(status.success(), "the first evaluator left cleanly");
    let at_leave = tap.seen.len();
    going.store(false, Ordering::Relaxed);
    let total = stream.await.expect("streamed");

    let complete = tap.read_until(total).await;
    let missing = tap.missing(total);
    assert!(
        complete && missing.is_empty(),
        "alerts never matched after the rebalance, e.g. {missing:?}"
    );
    eprintln!("{total} alerts matched; {at_leave} before the first evaluator left");

    let (status, _) = staying.terminate().await;
    assert!(status.success());
    let (status, _) = updater.terminate().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_rule_updater_takes_over_and_the_snapshot_never_goes_back() {
    let (isolation, rules, dir) = fresh_setup().await;
    let store = Arc::new(RedisSnapshotStore::new(&redis_url(), &isolation.id).expect("store"));

    // Watches the version for the whole test.
    let versions = Arc::new(Mutex::new(Vec::<u64>::new()));
    let watcher = {
        let (store, versions) = (store.clone(), versions.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(Some(version)) = store.version().await {
                    versions.lock().expect("lock").push(version);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let mut first = service(&isolation, &rules.url, &["run", "rule-updater"], dir.path());
    first.wait_for_line("acquired the lease").await;
    first.wait_for_line("rule snapshot written").await;
    let mut second = service(&isolation, &rules.url, &["run", "rule-updater"], dir.path());
    second.wait_for_line("standby").await;

    rules
        .post("/api/v1/clients", json!({"client_id": "acme"}))
        .await;
    let r1 = rules.rule("acme", "HIGH", "payments", "*").await;
    wait_for_snapshot(&store, &[&r1]).await;

    // The writer dies without a word; its lease runs out and the standby takes over.
    first.child.start_kill().expect("SIGKILL");
    let _ = first.child.wait().await;
    second.wait_for_line("acquired the lease").await;
    // Everything the standby said until then: it wrote nothing while it waited.
    let waited = second
        .seen
        .iter()
        .position(|line| line.contains("acquired the lease"))
        .unwrap_or(second.seen.len());
    assert!(
        !second.seen[..waited]
            .iter()
            .any(|line| line.contains("rule snapshot written")),
        "the standby wrote nothing: {:#?}",
        second.seen
    );
    let r2 = rules.rule("acme", "LOW", "*", "*").await;
    wait_for_snapshot(&store, &[&r1, &r2]).await;
    // The killed one comes back as the standby, and changes keep flowing.
    let mut restarted = service(&isolation, &rules.url, &["run", "rule-updater"], dir.path());
    restarted.wait_for_line("standby").await;
    let r3 = rules.rule("acme", "MEDIUM", "*", "*").await;
    wait_for_snapshot(&store, &[&r1, &r2, &r3]).await;
    let (status, _) = restarted.terminate().await;
    assert!(status.success());

    watcher.abort();
    let versions = versions.lock().expect("lock").clone();
    assert!(versions.len() > 10, "watched the version: {versions:?}");
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "the version went backwards: {versions:?}"
    );
    assert!(versions.last() > versions.first(), "{versions:?}");

    // A write by anyone but the holder is refused (fencing).
    let encoded = store.load().await.expect("load").expect("a snapshot");
    let mut stale = Snapshot::decode(&encoded).expect("decodes");
    stale.version += 100;
    stale.rules.clear();
    assert_eq!(
        store
            .store("an-old-writer", &stale.encode())
            .await
            .expect("store"),
        alerting_handlers::ports::StoreOutcome::NotLeaseHolder
    );
    let (status, output) = second.terminate().await;
    assert!(status.success(), "{output:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_once_and_services_name_the_missing_ones() {
    let isolation = Isolation::new();
    let rules = Rules::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        let mut command = alerting_command!(dir.path());
        command.envs(isolation.env(&rules.url)).args(args);
        alerting_test_support::process::run(command)
    };

    // Every service refuses to start without its topics, and names them.
    let needs: [(&[&str], &[&str]); 5] = [
        (
            &["run", "evaluator"],
            &["alerts.new", "alerts.matched", "alerts.new.dlq"],
        ),
        (&["run", "rule-updater"], &["rule.changed"]),
        (
            &["run", "aggregator"],
            &["alerts.matched", "notifications.ready"],
        ),
        (&["run", "sender"], &["notifications.ready"]),
        (&["serve", "alert-producer"], &["alerts.new"]),
    ];
    for (args, topics) in needs {
        let (code, output) = run(args).await;
        assert_eq!(code, Some(1), "{args:?}: {output}");
        for topic in topics {
            assert!(
                output.contains(&format!("{}.{topic}", isolation.id)),
                "{args:?} names {topic}: {output}"
            );
        }
        assert!(output.contains("alerting topics create"), "{output}");
    }

    let (code, output) = run(&["topics", "create"]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("created topics"), "{output}");
    for (name, partitions) in partitions_of_every_topic(&isolation.id).await {
        assert_eq!(partitions, Some(9), "{name}: the default");
    }
    let (code, output) = run(&["topics", "create"]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("every topic exists already"), "{output}");

    // With no rule-updater running, the scheduled job writes the snapshot itself.
    rules
        .post("/api/v1/clients", json!({"client_id": "acme"}))
        .await;
    let rule = rules.rule("acme", "HIGH", "payments", "*").await;
    let (code, output) = run(&["job", "snapshot-rebuild"]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("rebuilt as version"), "{output}");
    let store = RedisSnapshotStore::new(&redis_url(), &isolation.id).expect("store");
    wait_for_snapshot(&store, &[&rule]).await;
    let first = store.version().await.expect("version").expect("written");
    let (_, output) = run(&["job", "snapshot-rebuild"]).await;
    assert!(output.contains("rebuilt as version"), "{output}");
    let second = store.version().await.expect("version").expect("written");
    assert!(
        second > first,
        "versions move forward: {first} then {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_get_the_partitions_an_operator_asks_for() {
    let isolation = Isolation::new();
    let dir = tempfile::tempdir().expect("dir");
    let create = |partitions: &str| {
        let mut command = alerting_command!(dir.path());
        command
            .env("KAFKA_BROKERS", test_broker())
            .env("KAFKA_TOPIC_PREFIX", format!("{}.", isolation.id))
            .env("KAFKA_TOPIC_PARTITIONS", partitions)
            .args(["topics", "create"]);
        alerting_test_support::process::run(command)
    };

    let (code, output) = create("0").await;
    assert_ne!(code, Some(0), "{output}");
    assert!(
        output.contains("--topic-partitions") && output.contains("1..=1000"),
        "names the setting and its range: {output}"
    );

    let (code, output) = create("3").await;
    assert_eq!(code, Some(0), "{output}");
    for (name, partitions) in partitions_of_every_topic(&isolation.id).await {
        assert_eq!(partitions, Some(3), "{name}");
    }
}

/// The partitions of each of the 8 topics under a prefix, read from broker metadata.
/// A topic just made may show no partitions for a moment (the broker's metadata catches
/// up with its controller's), so a topic seen without any is asked again, for a while.
async fn partitions_of_every_topic(prefix: &str) -> Vec<(String, Option<usize>)> {
    let names: Vec<String> = topics::all_with_dead_letters()
        .into_iter()
        .map(|topic| format!("{prefix}.{topic}"))
        .collect();
    use rdkafka::consumer::Consumer as _;
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", test_broker())
        .create()
        .expect("client");
    let counts = tokio::task::spawn_blocking(move || {
        names
            .into_iter()
            .map(|name| {
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                loop {
                    let metadata = consumer
                        .fetch_metadata(Some(&name), Duration::from_secs(10))
                        .expect("metadata");
                    let partitions = metadata
                        .topics()
                        .iter()
                        .find(|topic| topic.name() == name)
                        .map(|topic| topic.partitions().len());
                    if partitions.is_some_and(|n| n > 0) || std::time::Instant::now() > deadline {
                        break (name, partitions);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("metadata task");
    assert_eq!(counts.len(), 8, "{counts:?}");
    counts
}

fn random_between(low: f64, high: f64) -> f64 {
    low + (high - low) * (uuid::Uuid::new_v4().as_u128() % 1_000) as f64 / 1_000.0
}

/// Topics, a rule-service on a fresh database, and a webhook sink, with client `acme`
/// and one rule matching everything that delivers to `sink.url(path)`; services start
/// as processes with the isolation's environment plus `env`.
pub(super) struct OneRuleStack {
    isolation: Isolation,
    pub(super) kafka_config: alerting::config::KafkaConfig,
    pub(super) rules: Rules,
    pub(super) sink: HttpSink,
    pub(super) rule: String,
    dir: tempfile::TempDir,
    env: Vec<(&'static str, &'static str)>,
}

impl OneRuleStack {
    pub(super) async fn start(
        path: &str,
        secret: Option<&str>,
        env: &[(&'static str, &'static str)],
    ) -> Self {
        let isolation = Isolation::new();
        let kafka_config = isolation.kafka();
        Kafka::unchecked(&kafka_config)
            .create_topics()
            .await
            .expect("topics");
        let rules = Rules::start().await;
        let sink = HttpSink::start().await;
        rules
            .post("/api/v1/clients", json!({"client_id": "acme"}))
            .await;
        let rule = rules.rule("acme", "*", "*", "*").await;
        let mut endpoint = json!({"type": "webhook", "value": sink.url(path)});
        if let Some(secret) = secret {
            endpoint["secret"] = json!(secret);
        }
        rules
            .post(&format!("/api/v1/rules/{rule}/endpoints"), endpoint)
            .await;
        Self {
            isolation,
            kafka_config,
            rules,
            sink,
            rule,
            dir: tempfile::tempdir().expect("dir"),
            env: env.to_vec(),
        }
    }

    pub(super) fn service(&self, args: &[&str]) -> Running {
        let mut command = alerting_command!(self.dir.path());
        command
            .envs(self.isolation.env(&self.rules.url))
            .envs(self.env.iter().copied())
            .args(args);
        Running::start(command)
    }

    /// The rule-updater, once the snapshot holds the rule.
    pub(super) async fn updater(&self) -> Running {
        let updater = self.service(&["run", "rule-updater"]);
        let store = RedisSnapshotStore::new(&redis_url(), &self.isolation.id).expect("store");
        wait_for_snapshot(&store, &[&self.rule]).await;
        updater
    }

    /// rule-updater (once the snapshot holds the rule), evaluator, aggregator, sender.
    async fn services(&self) -> [Running; 4] {
        let updater = self.updater().await;
        let mut evaluator = self.service(&["run", "evaluator"]);
        evaluator.wait_for_line("matching with rule snapshot").await;
        let mut aggregator = self.service(&["run", "aggregator"]);
        aggregator.wait_for_line("aggregator started").await;
        let mut sender = self.service(&["run", "sender"]);
        sender.wait_for_line("sender started").await;
        [updater, evaluator, aggregator, sender]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_and_sender_killed_at_random_points_lose_and_duplicate_nothing() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    const TOTAL: usize = 3_000;
    let stack = OneRuleStack::start(
        "kill",
        Some("kill-s3cret-0123456789"),
        &[("DELIVERY_BACKOFF", "50ms"), ("DELIVERY_TIMEOUT", "2s")],
    )
    .await;
    let (kafka_config, rules, sink) = (&stack.kafka_config, &stack.rules, &stack.sink);
    let start = |args: &[&str]| stack.service(args);
    let [updater, evaluator, mut aggregator, mut sender] = stack.services().await;

    let bus = Kafka::unchecked(kafka_config).bus().expect("producer");
    let producer = tokio::spawn(async move {
        for start in (0..TOTAL).step_by(100) {
            publish_stream(&bus, start..start + 100).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let db = rules.connect().await;
    // Each is killed twice, at random points, and restarted each time.
    let aggregator_kills = [random_between(0.10, 0.30), random_between(0.40, 0.60)]
        .map(|share| (TOTAL as f64 * share) as usize);
    let sender_kills = [random_between(0.30, 0.50), random_between(0.60, 0.85)]
        .map(|share| (TOTAL as f64 * share) as usize);
    eprintln!(
        "killing the aggregator at {aggregator_kills:?} notifications, the sender at {sender_kills:?} deliveries"
    );

    for kill_at in aggregator_kills {
        wait_until_stored(&db, kill_at).await;
        aggregator.child.start_kill().expect("SIGKILL");
        let _ = aggregator.child.wait().await;
        let at_kill = stored_notifications(&db).await;
        assert!(
            at_kill < TOTAL,
            "the aggregator died mid-stream ({at_kill} stored)"
        );
        aggregator = start(&["run", "aggregator"]);
        aggregator.wait_for_line("aggregator started").await;
    }

    let mut delivered_at_kills = Vec::new();
    for kill_at in sender_kills {
        sink.wait_for("kill", kill_at).await;
        sender.child.start_kill().expect("SIGKILL");
        let _ = sender.child.wait().await;
        delivered_at_kills.push(sink.received("kill").len());
        sender = start(&["run", "sender"]);
        sender.wait_for_line("sender started").await;
    }
    producer.await.expect("producer");

    let settled = tokio::time::timeout(PATIENCE, async {
        loop {
            let sent = alerting_entities::notifications::Entity::find()
                .filter(alerting_entities::notifications::Column::Status.eq("SENT"))
                .count(&db)
                .await
                .expect("count") as usize;
            if sent == TOTAL {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let rows = stored_notifications(&db).await;
    if settled.is_err() {
        let mut by_status: std::collections::BTreeMap<String, usize> = Default::default();
        for row in alerting_entities::notifications::Entity::find()
            .all(&db)
            .await
            .expect("rows")
        {
            *by_status.entry(row.status).or_default() += 1;
        }
        let (_, output) = sender.terminate().await;
        let tail = &output[output.len().saturating_sub(40)..];
        panic!(
            "not every notification was sent: {rows} stored, {by_status:?}; the sender said {tail:#?}"
        );
    }
    assert_eq!(
        rows, TOTAL,
        "one notification per alert, none missing, none twice"
    );
    assert!(
        delivered_at_kills
            .iter()
            .all(|delivered| *delivered < TOTAL),
        "the sender died mid-stream each time ({delivered_at_kills:?} delivered)"
    );

    for request in sink.received("kill") {
        let timestamp: i64 = request
            .header("x-alerting-timestamp")
            .unwrap_or_default()
            .parse()
            .unwrap_or(0);
        assert!(
            alerting_handlers::signature::verify(
                "kill-s3cret-0123456789",
                timestamp,
                &request.body,
                request.header("x-alerting-signature").unwrap_or_default()
            ),
            "every delivery is signed"
        );
    }
    let keys = sink.keys_by_notification("kill");
    assert_eq!(keys.len(), TOTAL, "every notification reached the endpoint");
    let conflicting: Vec<_> = keys.iter().filter(|(_, k)| k.len() != 1).take(5).collect();
    assert!(
        conflicting.is_empty(),
        "one idempotency key per notification: {conflicting:?}"
    );
    let requests = sink.received("kill").len();
    eprintln!(
        "{TOTAL} notifications, {requests} deliveries ({} repeated after kills, each with its key)",
        requests - TOTAL
    );

    for service in [sender, aggregator, evaluator, updater] {
        let (status, output) = service.terminate().await;
        assert!(status.success(), "{output:#?}");
    }
}

/// With `LOG_FORMAT=json` and debug logs for the platform, one alert can be followed
/// through every service by its id, and its notification by id and client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_is_followed_through_every_service_in_the_json_logs() {
    let stack = OneRuleStack::start(
        "followed",
        None,
        &[
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info,alerting=debug,alerting_handlers=debug"),
        ],
    )
    .await;
    let [updater, mut evaluator, mut aggregator, mut sender] = stack.services().await;

    let mut followed = alert(0);
    followed.alert_id = "follow-me-7".into();
    Kafka::unchecked(&stack.kafka_config)
        .bus()
        .expect("producer")
        .publish(vec![AlertEvent::message(&followed)])
        .await
        .expect("published");

    let fields = |line: String| -> serde_json::Value {
        let record: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {line}"));
        record["fields"].clone()
    };
    let evaluated = fields(evaluator.wait_for_line("follow-me-7").await);
    assert_eq!(evaluated["message"], "alert evaluated", "{evaluated}");
    assert_eq!(evaluated["alert_id"], "follow-me-7");
    assert_eq!(evaluated["clients"], 1);
    let created = fields(aggregator.wait_for_line("follow-me-7").await);
    assert_eq!(created["message"], "notification created", "{created}");
    assert_eq!(created["client_id"], "acme");
    let notification_id = created["notification_id"].clone();
    assert!(notification_id.is_string(), "{created}");
    let delivered = fields(sender.wait_for_line("follow-me-7").await);
    assert_eq!(delivered["message"], "delivered", "{delivered}");
    assert_eq!(delivered["alert_id"], "follow-me-7");
    assert_eq!(delivered["client_id"], "acme");
    assert_eq!(delivered["notification_id"], notification_id);
    assert_eq!(stack.sink.received("followed").len(), 1);

    for service in [updater, evaluator, aggregator, sender] {
        let (status, output) = service.terminate().await;
        assert!(status.success(), "{output:#?}");
    }
}

/// A snapshot of many rules is staged in pieces: it must arrive whole, and pieces from a
/// writer without the lease must never reach readers or linger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_bigger_than_a_staging_piece_is_stored_whole_and_only_by_the_lease_holder() {
    use alerting_handlers::{
        ports::StoreOutcome,
        snapshot_format::{RuleFields, SnapshotWriter},
    };

    let isolation = Isolation::new();
    let store = RedisSnapshotStore::new(&redis_url(), &isolation.id).expect("store");
    let sources: Vec<String> = (0..30_000).map(|n| format!("source-{n}")).collect();
    let encode = |version: u64| {
        let mut writer = SnapshotWriter::new();
        for source in &sources {
            writer.push(RuleFields {
                rule_id: uuid::Uuid::new_v4(),
                client_id: "acme",
                severity: Some(Severity::High),
                source,
                name: "*",
                version: 1,
            });
        }
        writer.finish(version, chrono::Utc::now())
    };
    let first = encode(10);
    assert!(
        first.as_bytes().len() > 3 * alerting::adapters::redis_snapshot::PIECE,
        "spans several pieces: {} bytes",
        first.as_bytes().len()
    );

    assert!(
        store
            .try_acquire_lease("writer", Duration::from_secs(30))
            .await
            .expect("lease")
    );
    assert_eq!(
        store.store("writer", &first).await.expect("store"),
        StoreOutcome::Written
    );
    let loaded = store.load().await.expect("load").expect("stored");
    assert_eq!(loaded, first, "the bytes read back are the bytes written");

    let intruder = encode(20);
    assert_eq!(
        store.store("intruder", &intruder).await.expect("store"),
        StoreOutcome::NotLeaseHolder
    );
    assert_eq!(store.load().await.expect("load"), Some(first));
    let mut redis = redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let staged: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*staging*", isolation.id))
        .query_async(&mut redis)
        .await
        .expect("keys");
    assert!(staged.is_empty(), "no staged pieces left: {staged:?}");
    store.release_lease("writer").await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluator_waits_for_a_snapshot_and_the_timed_rebuild_heals_drift() {
    use alerting_entities::outbox;
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

    let (isolation, rules, dir) = fresh_setup().await;
    let store = RedisSnapshotStore::new(&redis_url(), &isolation.id).expect("store");

    // Before any snapshot exists the evaluator says what it waits for, and waits.
    let mut evaluator = service(&isolation, &rules.url, &["run", "evaluator"], dir.path());
    evaluator
        .wait_for_line("waiting for a rule snapshot (is a rule-updater running?)")
        .await;
    assert!(
        evaluator.child.try_wait().expect("status").is_none(),
        "it waits rather than exits"
    );
    let mut command = alerting_command!(dir.path());
    command
        .envs(isolation.env(&rules.url))
        .env("SNAPSHOT_REBUILD_INTERVAL", "1s")
        .args(["run", "rule-updater"]);
    let mut updater = Running::start(command);
    updater.wait_for_line("rule snapshot written").await;
    evaluator.wait_for_line("matching with rule snapshot").await;

    // A rule made through the API reaches the snapshot, and its outbox row is marked
    // published.
    rules
        .post("/api/v1/clients", json!({"client_id": "acme"}))
        .await;
    let through_api = rules.rule("acme", "HIGH", "payments", "*").await;
    wait_for_snapshot(&store, &[&through_api]).await;
    let db = alerting::db::connect_url(&rules.url, 2)
        .await
        .expect("connect");
    let rule_id: uuid::Uuid = through_api.parse().expect("uuid");
    let published = tokio::time::timeout(PATIENCE, async {
        loop {
            let rows = outbox::Entity::find()
                .filter(outbox::Column::RuleId.eq(rule_id))
                .all(&db)
                .await
                .expect("outbox");
            if !rows.is_empty() && rows.iter().all(|row| row.published_at.is_some()) {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the relay marks what it published");
    assert_eq!(published.len(), 1, "{published:?}");

    // A rule written behind the API's back has no outbox row and no event: only the
    // periodic full rebuild can bring it in.
    let behind_the_back = insert_rule_directly(&db, "acme", "LOW", "*").await;
    let direct = behind_the_back.id.to_string();
    wait_for_snapshot(&store, &[&through_api, &direct]).await;

    for running in [updater, evaluator] {
        let (status, output) = running.terminate().await;
        assert!(status.success(), "{output:#?}");
    }
}
