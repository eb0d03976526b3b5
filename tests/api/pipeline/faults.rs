//! Faults the platform meets in production, each on the distributed platform (every
//! service its own process), each ending with the check that nothing was lost and
//! nothing sent twice: one notification per alert, every one delivered, and every
//! repeat of a delivery carrying the same idempotency key.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use alerting::{
    adapters::{kafka::Kafka, redis_snapshot::RedisSnapshotStore},
    config::KafkaConfig,
};
use alerting_handlers::ports::Subscription;
use alerting_handlers::{
    events::AlertEvent,
    ports::{Bus, OutgoingMessage},
};
use alerting_test_support::{
    alerting_command,
    process::{Running, free_port, free_ports, test_broker_script, test_broker_script_with},
    sinks::{Answer, HttpSink},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    process::{Child, Command},
    task::JoinHandle,
};

use super::{
    Isolation, PATIENCE,
    failover::{
        Rules, alert, insert_rule_directly, publish_stream, stored_notifications,
        wait_for_snapshot, wait_until_stored,
    },
};

/// A broker of one test's own, so that stopping it disturbs no other test. Stopped
/// when dropped.
struct OwnBroker {
    address: String,
    port: u16,
    /// Its KRaft controller's port: one found free too (the script's default, the next
    /// port up, may be any connection's ephemeral port).
    controller: u16,
    pid: String,
}

impl OwnBroker {
    fn start() -> Self {
        let [port, controller] = free_ports();
        let address = test_broker_script_with("start", Some(port), &Self::settings(controller));
        let pid = Self::pid(port);
        Self {
            address,
            port,
            controller,
            pid,
        }
    }

    fn settings(controller: u16) -> [(&'static str, String); 1] {
        [("KAFKA_CONTROLLER_PORT", controller.to_string())]
    }

    /// Stops the broker process (SIGTERM: it shuts down and exits; this waits for it).
    fn stop(&self) {
        test_broker_script("stop", Some(self.port));
    }

    /// Starts the stopped broker again on the same port and log, waiting until it
    /// answers.
    fn start_again(&mut self) {
        let address =
            test_broker_script_with("restart", Some(self.port), &Self::settings(self.controller));
        assert_eq!(address, self.address);
        self.pid = Self::pid(self.port);
    }

    /// The pid `scripts/test-broker` recorded for the broker on `port`.
    fn pid(port: u16) -> String {
        let pid_file = std::env::temp_dir().join(format!("alerting-test-broker-{port}/pid"));
        std::fs::read_to_string(pid_file)
            .expect("the broker's pid")
            .trim()
            .to_owned()
    }

    /// Sends a signal to the broker (`-STOP` freezes it, `-CONT` thaws it).
    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        // A frozen broker cannot stop: thaw it first, whatever a failed test left.
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.pid])
            .stderr(std::process::Stdio::null())
            .status();
        test_broker_script("stop", Some(self.port));
        // Its log too: each test's broker is its own, on a port of its own.
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("alerting-test-broker-{}", self.port)),
        );
    }
}

/// A TCP proxy that can cut every connection and refuse new ones: to the services
/// behind it, the server is down.
#[derive(Clone)]
struct Proxy {
    address: String,
    down: Arc<Mutex<bool>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let proxy = Self {
            address,
            down: Arc::default(),
            connections: Arc::default(),
        };
        let (upstream, state) = (upstream.to_owned(), proxy.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *state.down.lock().expect("lock") {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                state.connections.lock().expect("lock").push(task);
            }
        });
        proxy
    }

    fn cut(&self) {
        *self.down.lock().expect("lock") = true;
        for task in self.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        *self.down.lock().expect("lock") = false;
    }
}

/// The platform as separate processes, with one client whose catch-all rule sends to
/// the webhook `faults` of the sink.
struct Rig {
    rules: Rules,
    proxy: Option<Proxy>,
    sink: HttpSink,
    kafka: KafkaConfig,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    services: BTreeMap<&'static str, Running>,
    isolation: Isolation,
}

const SERVICES: [(&str, &[&str], &str); 4] = [
    (
        "rule-updater",
        &["run", "rule-updater"],
        "rule snapshot written",
    ),
    (
        "evaluator",
        &["run", "evaluator"],
        "matching with rule snapshot",
    ),
    ("aggregator", &["run", "aggregator"], "aggregator started"),
    ("sender", &["run", "sender"], "sender started"),
];

impl Rig {
    /// `overrides` replace settings of `Isolation::env` (another broker, Redis or
    /// database address for the services). Each extra endpoint is on the sink's second
    /// port, a receiver apart from `faults`.
    async fn start(
        overrides: &[(&str, String)],
        extra_endpoints: &[(&str, Option<Vec<Answer>>)],
    ) -> Self {
        Self::start_with(overrides, extra_endpoints, false).await
    }

    /// With `proxied_database`, the services reach Postgres through a `Proxy`.
    async fn start_with(
        overrides: &[(&str, String)],
        extra_endpoints: &[(&str, Option<Vec<Answer>>)],
        proxied_database: bool,
    ) -> Self {
        let isolation = Isolation::new();
        let rules = Rules::start().await;
        let sink = HttpSink::start().await;
        let (services_url, proxy) = if proxied_database {
            let proxy = Proxy::start("127.0.0.1:5432").await;
            let mut url = url::Url::parse(&rules.url).expect("url");
            let port: u16 = proxy
                .address
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            url.set_port(Some(port)).expect("port");
            (url.to_string(), Some(proxy))
        } else {
            (rules.url.clone(), None)
        };
        let mut env = isolation.env(&services_url);
        env.extend([
            ("DELIVERY_BACKOFF".to_owned(), "100ms".to_owned()),
            ("DELIVERY_TIMEOUT".to_owned(), "3s".to_owned()),
        ]);
        env.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let mut kafka = isolation.kafka();
        if let Some((_, brokers)) = overrides.iter().find(|(k, _)| *k == "KAFKA_BROKERS") {
            kafka.brokers = Some(brokers.clone());
        }
        Kafka::unchecked(&kafka)
            .create_topics()
            .await
            .expect("topics");

        rules
            .post("/api/v1/clients", json!({"client_id": "acme"}))
            .await;
        let rule = rules.rule("acme", "*", "*", "*").await;
        let endpoints = format!("/api/v1/rules/{rule}/endpoints");
        rules
            .post(
                &endpoints,
                json!({"type": "webhook", "value": sink.url("faults"), "secret": "faults-s3cret-0123456789"}),
            )
            .await;
        for (path, script) in extra_endpoints {
            rules
                .post(
                    &endpoints,
                    json!({"type": "webhook", "value": sink.url_apart(path)}),
                )
                .await;
            if let Some(script) = script {
                sink.script(path, script.clone());
            }
        }
        let mut rig = Self {
            rules,
            proxy,
            sink,
            kafka,
            env,
            dir: tempfile::tempdir().expect("dir"),
            services: BTreeMap::new(),
            isolation,
        };
        for (name, _, _) in SERVICES {
            rig.start_service(name).await;
        }
        rig
    }

    async fn start_service(&mut self, name: &'static str) {
        let (_, args, ready) = SERVICES
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("a service");
        let mut command = alerting_command!(self.dir.path());
        command.envs(self.env.clone()).args(*args);
        let mut running = Running::start(command);
        running.wait_for_line(ready).await;
        self.services.insert(name, running);
    }

    /// Starts an alert-producer; returns its base URL.
    async fn start_alert_producer(&mut self) -> String {
        let mut command = alerting_command!(self.dir.path());
        command
            .envs(self.env.clone())
            .args(["serve", "alert-producer"]);
        let mut running = Running::start(command);
        let line = running.wait_for_line("alert-producer on http://").await;
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split([',', ' ']).next())
            .expect("address")
            .to_owned();
        self.services.insert("alert-producer", running);
        format!("http://{address}")
    }

    /// Posts `total` alerts to the alert-producer in batches of 100, as a careful
    /// producer would: a batch that is not answered 202 is sent again. Returns how many
    /// posts were refused.
    fn stream_http(&self, url: String, total: usize, pause: Duration) -> JoinHandle<usize> {
        let http = alerting_test_support::http();
        tokio::spawn(async move {
            let mut refused = 0;
            for start in (0..total).step_by(100) {
                let batch: Vec<serde_json::Value> = (start..(start + 100).min(total))
                    .map(|n| json!({"alert_id": format!("stream-{n}"), "severity": "HIGH", "source": "payments", "name": "declined"}))
                    .collect();
                loop {
                    let sent = http
                        .post(format!("{url}/api/v1/alerts"))
                        .json(&batch)
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().as_u16() == 202) {
                        break;
                    }
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                tokio::time::sleep(pause).await;
            }
            refused
        })
    }

    /// Publishes `total` alerts in batches of 100, a batch every `pause`.
    fn stream(&self, total: usize, pause: Duration) -> JoinHandle<()> {
        let bus = Kafka::unchecked(&self.kafka).bus().expect("producer");
        tokio::spawn(async move {
            for start in (0..total).step_by(100) {
                publish_stream(&bus, start..(start + 100).min(total)).await;
                tokio::time::sleep(pause).await;
            }
        })
    }

    /// Runs `alerting job redrive` (announcing what has been PENDING for a second)
    /// until the endpoint at `path` has every one of `total` notifications.
    async fn redrive_until_sent(&self, total: usize, path: &str) {
        let done = tokio::time::timeout(PATIENCE * 2, async {
            loop {
                let output = alerting_command!(self.dir.path())
                    .envs(self.env.clone())
                    .env("REDRIVE_AFTER", "1s")
                    .args(["job", "redrive"])
                    .output()
                    .await
                    .expect("job redrive runs");
                assert!(output.status.success(), "{output:?}");
                if self.sink.keys_by_notification(path).len() >= total {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
        .await;
        let reached = self.sink.keys_by_notification(path).len();
        assert!(
            done.is_ok(),
            "{reached} of {total} reached {path} after redrives"
        );
    }

    /// Nothing lost, nothing twice: `total` notifications for the catch-all client, all
    /// SENT, each delivered to the `faults` webhook, every repeat with the same
    /// idempotency key.
    /// The services on `broker`, which the test is about to take away: their publishes
    /// give up after 3 s, well inside the outage, so they must retry them rather than
    /// count them done.
    async fn on_broker_that_goes(broker: &OwnBroker) -> Self {
        let env = [
            ("KAFKA_BROKERS", broker.address.clone()),
            ("KAFKA_MESSAGE_TIMEOUT", "3s".to_owned()),
        ];
        Self::start(&env, &[]).await
    }

    /// Waits until one of the services logs a line with `needle`.
    async fn wait_for_line_from_any(&mut self, needle: &str) {
        let waits = self
            .services
            .values_mut()
            .map(|service| Box::pin(service.wait_for_line(needle)));
        futures_util::future::select_all(waits).await;
    }

    /// Stops the services, checking that the outage was felt: some work failed against
    /// the broker while it was gone, and was tried again.
    async fn stop_after_an_outage(self) {
        let said = self.stop().await;
        assert!(
            said.values()
                .flatten()
                .any(|line| line.contains("batch failed; retrying")),
            "a batch failed while the broker was gone and was tried again"
        );
    }

    async fn assert_each_alert_notified_once(&self, total: usize) {
        use alerting_entities::notifications;
        let db = alerting::db::connect_url(&self.rules.url, 2)
            .await
            .expect("connect");
        let settled = tokio::time::timeout(PATIENCE * 2, async {
            loop {
                let sent = notifications::Entity::find()
                    .filter(notifications::Column::ClientId.eq("acme"))
                    .filter(notifications::Column::Status.eq("SENT"))
                    .count(&db)
                    .await
                    .unwrap_or(0) as usize;
                if sent >= total {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        let rows = notifications::Entity::find()
            .filter(notifications::Column::ClientId.eq("acme"))
            .count(&db)
            .await
            .expect("count") as usize;
        assert!(
            settled.is_ok(),
            "not every notification was sent ({rows} stored of {total})"
        );
        assert_eq!(rows, total, "one notification per alert");
        let keys = self.sink.keys_by_notification("faults");
        assert_eq!(keys.len(), total, "every notification was delivered");
        assert!(
            keys.values().all(|k| k.len() == 1),
            "one idempotency key per notification"
        );
        let requests = self.sink.received("faults").len();
        eprintln!(
            "{total} alerts, {total} notifications, {requests} deliveries ({} repeats, same keys)",
            requests - total
        );
    }

    /// Stops every service (each must exit cleanly); returns what each said.
    async fn stop(self) -> BTreeMap<&'static str, Vec<String>> {
        let mut said = BTreeMap::new();
        for (name, service) in self.services {
            let (status, output) = service.terminate().await;
            assert!(status.success(), "{output:#?}");
            said.insert(name, output);
        }
        said
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_does_not_stall_the_others() {
    const TOTAL: usize = 1_000;
    // Every attempt at `hangs` is answered after 20 s, far past the sender's 3 s timeout.
    let hang = vec![Answer::Hang(Duration::from_secs(20)); TOTAL * 5];
    let rig = Rig::start(
        &[("CIRCUIT_BREAKER_COOLDOWN", "2s".to_owned())],
        &[("hangs", Some(hang))],
    )
    .await;
    // A steady stream, not a burst: batch after batch holds deliveries to the hanging
    // endpoint. Waiting on them would hold every batch for minutes.
    let stream = rig.stream(TOTAL, Duration::from_millis(500));
    let delivered = rig.sink.wait_for("faults", TOTAL).await;
    stream.await.expect("streamed");
    let attempts = rig.sink.received("hangs").len();
    assert!(
        attempts < TOTAL / 10,
        "the hanging endpoint is left alone once it counts as down ({attempts} attempts)"
    );
    assert!(delivered.len() >= TOTAL);

    // What it missed waits, PENDING, and says why (once the attempts the hanging
    // endpoint held have timed out).
    let found = rig
        .rules
        .get("/api/v1/notifications?client_id=acme&alert_id=stream-500")
        .await;
    let id = found["items"][0]["notification_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let hangs = rig.sink.url_apart("hangs");
    let (shown, deferred) = tokio::time::timeout(PATIENCE, async {
        loop {
            let shown = rig.rules.get(&format!("/api/v1/notifications/{id}")).await;
            let recorded = shown["deliveries"]
                .as_array()
                .and_then(|all| all.iter().find(|d| d["target"] == hangs.as_str()))
                .cloned();
            // Recorded once deferred: an attempt made before the receiver counted as
            // down is recorded first, as it times out.
            if let Some(delivery) = recorded.filter(|d| {
                d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("deferred"))
            }) {
                return (shown, delivery);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the delivery to the hanging endpoint is recorded as deferred");
    assert_eq!(shown["status"], "PENDING", "{shown}");
    assert_eq!(deferred["status"], "RETRYING", "{shown}");

    // The endpoint recovers; `job redrive` announces what waited, and it all arrives.
    rig.sink.script("hangs", Vec::new());
    rig.redrive_until_sent(TOTAL, "hangs").await;
    rig.assert_each_alert_notified_once(TOTAL).await;
    let keys = rig.sink.keys_by_notification("hangs");
    assert_eq!(
        keys.len(),
        TOTAL,
        "every notification reached the recovered one"
    );
    assert!(
        keys.values().all(|k| k.len() == 1),
        "one idempotency key per notification"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_pauses_the_aggregator_and_sender_without_losing_anything() {
    const TOTAL: usize = 1_500;
    let rig = Rig::start_with(&[], &[], true).await;
    let proxy = rig.proxy.clone().expect("a proxy");
    let stream = rig.stream(TOTAL, Duration::from_millis(500));
    rig.sink.wait_for("faults", 100).await;
    proxy.cut();
    // Ten seconds without a database: consumers retry and commit nothing.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = rig.sink.received("faults").len();
    proxy.restore();
    stream.await.expect("streamed");
    assert!(during < TOTAL, "the outage came mid-stream");
    rig.assert_each_alert_notified_once(TOTAL).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_stopped_for_10_seconds_loses_nothing() {
    // Enough that the services are still busy with them when the broker stops: Apache
    // Kafka carries 3,000 through the whole pipeline in about a second.
    const TOTAL: usize = 20_000;
    let broker = OwnBroker::start();
    let rig = Rig::on_broker_that_goes(&broker).await;
    // Every alert at once, so the broker stops while the services are busy with them:
    // the aggregator's next announcement after the stop has to fail.
    let streaming = rig.stream(TOTAL, Duration::ZERO);
    let db = rig.rules.connect().await;
    wait_until_stored(&db, TOTAL / 5).await;
    broker.signal("-STOP");
    let at_stop = stored_notifications(&db).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    broker.signal("-CONT");
    assert!(
        at_stop < TOTAL,
        "the outage came mid-stream ({at_stop} stored)"
    );
    streaming.await.expect("streamed");
    rig.assert_each_alert_notified_once(TOTAL).await;
    rig.stop_after_an_outage().await;
}

/// The broker process stopped (SIGTERM: it shuts down and exits) mid-stream and started
/// again on the same log: what it held is still there, the services reconnect, and
/// every alert becomes exactly one notification, delivered once. Tansu keeps its log
/// in memory, so this test needs Apache Kafka (the default test broker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_on_its_log_mid_stream_loses_nothing() {
    const TOTAL: usize = 20_000;
    if std::env::var("TEST_BROKER").is_ok_and(|broker| broker == "tansu") {
        eprintln!("skipped: Tansu keeps no log across a restart");
        return;
    }
    let mut broker = OwnBroker::start();
    let mut rig = Rig::on_broker_that_goes(&broker).await;
    // Every alert at once: the services are busy with them when the broker goes.
    let streaming = rig.stream(TOTAL, Duration::ZERO);
    let db = rig.rules.connect().await;
    wait_until_stored(&db, TOTAL / 5).await;
    broker.stop();
    let at_stop = stored_notifications(&db).await;
    assert!(
        at_stop < TOTAL,
        "the broker stopped mid-stream ({at_stop} stored)"
    );
    // Down until a consumer with work in hand has seen a publish fail (its 3 s message
    // timeout): work it must not count done.
    rig.wait_for_line_from_any("batch failed; retrying").await;
    broker.start_again();
    streaming.await.expect("streamed");
    rig.assert_each_alert_notified_once(TOTAL).await;
    rig.stop_after_an_outage().await;
}

/// A Redis of the test's own that keeps nothing on disk.
async fn redis_server(port: u16) -> Child {
    redis_server_keeping(port, None).await
}

/// A Redis of the test's own; with `dir`, every write goes to an append-only file there
/// first, so a restart comes back with the data.
async fn redis_server_keeping(port: u16, dir: Option<&std::path::Path>) -> Child {
    let mut args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--bind".to_owned(),
        "127.0.0.1".to_owned(),
        "--save".to_owned(),
        String::new(),
    ];
    match dir {
        Some(dir) => args.extend([
            "--dir".to_owned(),
            dir.display().to_string(),
            "--appendonly".to_owned(),
            "yes".to_owned(),
            "--appendfsync".to_owned(),
            "always".to_owned(),
        ]),
        None => args.extend(["--appendonly".to_owned(), "no".to_owned()]),
    }
    let mut child = Command::new("redis-server")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server did not listen"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("redis-server exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_keeps_matching_and_rule_changes_catch_up() {
    let port = free_port();
    let mut redis = redis_server(port).await;
    let redis_url = format!("redis://127.0.0.1:{port}");
    let rig = Rig::start(&[("REDIS_URL", redis_url.clone())], &[]).await;
    let bus = Kafka::unchecked(&rig.kafka).bus().expect("producer");
    let send = |from: usize, to: usize, source: &'static str| {
        let bus = bus.clone();
        async move {
            let alerts = (from..to)
                .map(|n| {
                    let mut alert = alert(n);
                    alert.source = source.to_owned();
                    AlertEvent::message(&alert)
                })
                .collect();
            bus.publish(alerts).await.expect("published");
        }
    };
    send(0, 100, "payments").await;
    rig.sink.wait_for("faults", 100).await;

    redis.kill().await.expect("Redis stopped");
    // The evaluator keeps matching with the snapshot it has.
    send(100, 200, "payments").await;
    rig.sink.wait_for("faults", 200).await;
    // A rule made while Redis is down: it cannot reach the snapshot yet.
    rig.rules
        .post("/api/v1/clients", json!({"client_id": "late"}))
        .await;
    let late = rig.rules.rule("late", "*", "billing", "*").await;
    rig.rules
        .post(
            &format!("/api/v1/rules/{late}/endpoints"),
            json!({"type": "webhook", "value": rig.sink.url("late")}),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Redis comes back empty; the rule-updater takes its lease again and rebuilds.
    let _redis = redis_server(port).await;
    let store = RedisSnapshotStore::new(&redis_url, &rig.isolation.id).expect("store");
    wait_for_snapshot(&store, &[&late]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(200, 300, "billing").await;
    rig.sink.wait_for("late", 100).await;
    rig.assert_each_alert_notified_once(300).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_change_made_while_redis_restarts_reaches_the_snapshot_when_it_is_back() {
    let port = free_port();
    let data = tempfile::tempdir().expect("dir");
    let mut redis = redis_server_keeping(port, Some(data.path())).await;
    let redis_url = format!("redis://127.0.0.1:{port}");
    // A lease that outlives the restart: the rule-updater keeps it throughout, so
    // nothing but its own retry brings the change in (the full rebuild is minutes away).
    let mut rig = Rig::start(
        &[
            ("REDIS_URL", redis_url.clone()),
            ("RULE_UPDATER_LEASE_TTL", "30s".to_owned()),
        ],
        &[],
    )
    .await;
    let store = RedisSnapshotStore::new(&redis_url, &rig.isolation.id).expect("store");

    redis.kill().await.expect("Redis stopped");
    rig.rules
        .post("/api/v1/clients", json!({"client_id": "late"}))
        .await;
    let late = rig.rules.rule("late", "*", "billing", "*").await;
    // The change came, and every attempt to write it failed.
    let updater = rig
        .services
        .get_mut("rule-updater")
        .expect("a rule-updater");
    for _ in 0..3 {
        updater
            .wait_for_line("rule-updater: cannot write the snapshot")
            .await;
    }

    let _redis = redis_server_keeping(port, Some(data.path())).await;
    let kept = alerting_handlers::ports::SnapshotStore::version(&store)
        .await
        .expect("Redis is back");
    assert!(kept.is_some(), "Redis came back with its data");
    wait_for_snapshot(&store, &[&late]).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_on_every_topic_lands_in_dead_letters_and_the_rest_flows() {
    use alerting_handlers::events::{AlertMatchedEvent, RuleChangedEvent, SCHEMA_VERSION};

    let rig = Rig::start(&[], &[]).await;
    let mut taps = Vec::new();
    for topic in [
        "alerts.new",
        "rule.changed",
        "alerts.matched",
        "notifications.ready",
    ] {
        let dead = alerting_handlers::events::topics::dead_letters(topic);
        taps.push((
            topic,
            // A group per tap: members of one group that is not read together hold up
            // each other's rebalances.
            Kafka::unchecked(&rig.kafka)
                .subscribe(&format!("test-tap-{topic}"), &dead)
                .expect("tap"),
        ));
    }
    let catch_all: uuid::Uuid =
        rig.rules.get("/api/v1/rules?client_id=acme").await["items"][0]["rule_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("the rig's rule");
    let db = rig.rules.connect().await;

    // On every topic the poison sits between two good messages with its key (so in its
    // partition, and most likely its batch), and each good one must have its effect.
    let poison = |topic: &str, key: &str| {
        OutgoingMessage::new(topic, key, format!("poison for {topic}").into_bytes())
    };
    let mut messages: Vec<OutgoingMessage> = Vec::new();
    // alerts.new: alerts, to be matched and notified.
    messages.push(AlertEvent::message(&alert(0)));
    messages.push(poison("alerts.new", "stream-0"));
    messages.push(AlertEvent::message(&alert(1)));
    // alerts.matched: matches, to become notifications.
    let matched = |n| AlertMatchedEvent::message(&alert(n), "acme", vec![catch_all]);
    messages.push(matched(100));
    messages.push(poison("alerts.matched", "acme"));
    messages.push(matched(101));
    // notifications.ready: notifications stored but not yet announced, to be sent.
    let stored = [200, 201]
        .map(|n| AlertMatchedEvent::decode(&matched(n).payload).expect("a match of our own"));
    let announcements =
        alerting_handlers::jobs::aggregate::aggregate(&db, &stored, &Default::default())
            .await
            .expect("stored");
    let [first_ready, second_ready]: [OutgoingMessage; 2] =
        announcements.try_into().expect("two announcements");
    messages.push(first_ready);
    messages.push(poison("notifications.ready", "acme"));
    messages.push(second_ready);
    // rule.changed: a rule written without the API, to reach the snapshot by its events.
    let direct = insert_rule_directly(&db, "acme", "LOW", "direct").await;
    let changed = |action: &str| {
        RuleChangedEvent {
            schema_version: SCHEMA_VERSION,
            rule_id: direct.id,
            client_id: "acme".to_owned(),
            action: action.to_owned(),
            version: 1,
            updated_at: direct.updated_at,
        }
        .message()
    };
    messages.push(changed("CREATED"));
    messages.push(poison("rule.changed", &direct.id.to_string()));
    messages.push(changed("UPDATED"));

    let bus = Kafka::unchecked(&rig.kafka).bus().expect("producer");
    bus.publish(messages).await.expect("published");
    for (topic, tap) in &mut taps {
        let letters = tokio::time::timeout(PATIENCE, tap.next_batch(10))
            .await
            .expect("a dead letter")
            .expect("batch");
        assert_eq!(letters.len(), 1, "the poison alone: {letters:?}");
        assert_eq!(
            letters[0].payload,
            format!("poison for {topic}").into_bytes()
        );
        assert_eq!(letters[0].header("dlq-topic"), Some(*topic));
        assert!(letters[0].header("dlq-error").is_some());
    }
    // Two alerts, two matches and two announcements became six notifications, each
    // delivered once; the rule changes reached the snapshot.
    rig.assert_each_alert_notified_once(6).await;
    let store = RedisSnapshotStore::new(&super::redis_url(), &rig.isolation.id).expect("store");
    wait_for_snapshot(&store, &[&catch_all.to_string(), &direct.id.to_string()]).await;
    rig.stop().await;
}

/// Alerts posted while the broker is frozen are refused (no 202 without the broker's
/// acknowledgement), and accepted again once it is back: the publishes that timed out
/// leave the idempotent producer fenced, and the bus replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_posted_during_a_broker_outage_are_refused_then_accepted_and_all_notified() {
    const TOTAL: usize = 1_000;
    let broker = OwnBroker::start();
    let brokers = broker.address.clone();

    let mut rig = Rig::start(
        &[
            ("KAFKA_BROKERS", brokers),
            ("KAFKA_MESSAGE_TIMEOUT", "3s".to_owned()),
        ],
        &[],
    )
    .await;
    let producer = rig.start_alert_producer().await;
    let stream = rig.stream_http(producer, TOTAL, Duration::from_millis(1_500));
    rig.sink.wait_for("faults", 100).await;
    broker.signal("-STOP");
    tokio::time::sleep(Duration::from_secs(10)).await;
    broker.signal("-CONT");
    let refused = tokio::time::timeout(PATIENCE * 2, stream)
        .await
        .expect("every batch was accepted once the broker was back")
        .expect("stream");
    assert!(
        refused > 0,
        "posts during the outage were refused (no 202 without the broker)"
    );
    rig.assert_each_alert_notified_once(TOTAL).await;
    rig.stop().await;
}
