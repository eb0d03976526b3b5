//! The steps of the features in `features/`: what a user does and sees, in the user's
//! words. Each feature file has a file here with the steps it brings; the steps nearly
//! every feature uses (the platform running, a client with a rule, a webhook, the rules
//! in effect, an alert arriving and a webhook receiving it) are here, with the world
//! they all act on. A step that several features use lives with the feature it is
//! about: cucumber finds a step by its words, whichever file holds it.
//!
//! Scenarios run one at a time on one platform per mode (see main.rs). Every name a
//! scenario uses (clients, alerts, webhooks, addresses) carries the scenario's own
//! prefix, and a scenario's clients are deleted when it ends, so nothing an earlier
//! scenario left behind (a rule, a late delivery) counts in a later one.

mod access;
mod acknowledge;
mod dedup_keys;
mod deduplication;
mod delivery;
mod explain;
mod load_generation;
mod managing_rules;
mod matching;
mod repeat;
mod resolve;
mod retries;
mod rule_changes;
mod silences;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use cucumber::{World, given, then, when};
use serde_json::{Value, json};

use crate::platform::Platform;

/// The platform of the mode being run.
pub static PLATFORM: RwLock<Option<Arc<Platform>>> = RwLock::new(None);

const PATIENCE: Duration = Duration::from_secs(60);

/// Alerts sent in the background (`alerts keep arriving`, rule_changes.rs) until
/// `stop`; once marked, the ids of those sent since the mark.
#[derive(Debug)]
struct Stream {
    sent_after_mark: Arc<Mutex<Option<Vec<String>>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

#[derive(World)]
#[world(init = Self::new)]
pub struct Alerting {
    platform: Arc<Platform>,
    prefix: String,
    rules: HashMap<String, String>,
    reply: Option<(u16, Value)>,
    stream: Option<Stream>,
    job: Option<Value>,
    clients: Vec<String>,
    /// API keys by alias: (client, key id, key).
    keys: HashMap<String, (String, String, String)>,
    /// The silence (or window) the scenario made last.
    last_silence: Option<String>,
    /// An acknowledged notification's repeats when it was acknowledged, by alert.
    repeats_at_acknowledgement: HashMap<String, Value>,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting")
            .field("mode", &self.platform.mode)
            .field("prefix", &self.prefix)
            .field("rules", &self.rules)
            .field("reply", &self.reply)
            .finish()
    }
}

impl Alerting {
    fn new() -> Self {
        let platform = PLATFORM
            .read()
            .expect("lock")
            .clone()
            .expect("a platform is running");
        Self {
            platform,
            prefix: format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            rules: HashMap::new(),
            reply: None,
            stream: None,
            job: None,
            clients: Vec::new(),
            keys: HashMap::new(),
            last_silence: None,
            repeats_at_acknowledgement: HashMap::new(),
        }
    }

    /// Deletes the scenario's clients (and so their rules), so that no rule of this
    /// scenario matches the alerts of the next.
    pub async fn clean_up(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream.stop.send(true);
        }
        for client in std::mem::take(&mut self.clients) {
            let url = format!("{}/api/v1/clients/{client}", self.platform.rule_service);
            let _ = self.platform.http.delete(url).send().await;
        }
    }

    fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    async fn call(
        &mut self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self.platform.http.request(method, url);
        self.send(request, body).await
    }

    async fn send(
        &mut self,
        mut request: reqwest::RequestBuilder,
        body: Option<Value>,
    ) -> (u16, Value) {
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the platform answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        self.reply = Some((status, body.clone()));
        (status, body)
    }

    async fn api(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.platform.rule_service);
        self.call(method, url, body).await
    }

    async fn ok(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.api(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    async fn create_client(&mut self, client: &str) {
        let id = self.name(client);
        self.ok(
            reqwest::Method::POST,
            "/api/v1/clients",
            Some(json!({"client_id": id})),
        )
        .await;
        self.clients.push(id);
    }

    async fn create_rule(
        &mut self,
        client: &str,
        alias: &str,
        severity: &str,
        source: &str,
        name: &str,
        enabled: bool,
    ) {
        let body = json!({"client_id": self.name(client), "severity": severity, "source": source, "name": name, "enabled": enabled});
        let rule = self
            .ok(reqwest::Method::POST, "/api/v1/rules", Some(body))
            .await;
        self.rules.insert(
            alias.to_owned(),
            rule["rule_id"].as_str().expect("rule id").to_owned(),
        );
    }

    fn rule(&self, alias: &str) -> String {
        self.rules
            .get(alias)
            .cloned()
            .unwrap_or_else(|| panic!("no rule called {alias:?}"))
    }

    async fn add_endpoint(&mut self, rule: &str, body: Value) {
        let path = format!("/api/v1/rules/{}/endpoints", self.rule(rule));
        self.ok(reqwest::Method::POST, &path, Some(body)).await;
    }

    async fn send_alert(&mut self, alert: &str, severity: &str, source: &str, name: &str) {
        let body = json!({"alert_id": self.name(alert), "severity": severity, "source": source, "name": name, "context": {"scenario": self.prefix}});
        let url = format!("{}/api/v1/alerts", self.platform.alert_producer);
        let (status, body) = self.call(reqwest::Method::POST, url, Some(body)).await;
        assert_eq!(status, 202, "{body}");
    }

    /// The client's notifications once none is pending.
    async fn settled(&mut self, client: &str, count: usize) -> Vec<Value> {
        let path = format!(
            "/api/v1/notifications?client_id={}&limit=200",
            self.name(client)
        );
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let page = self.ok(reqwest::Method::GET, &path, None).await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.len() == count && items.iter().all(|n| n["status"] != "PENDING") {
                return items;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{client}'s notifications: {items:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The alerts a webhook received, once it has received `count` and then nothing
    /// more for a second.
    async fn webhook_alerts(&self, webhook: &str, count: usize) -> Vec<String> {
        self.platform
            .sink
            .wait_for(&self.name(webhook), count)
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.alert_ids_of(webhook)
    }

    /// The alert id of every request a webhook has received so far, in order.
    fn alert_ids_of(&self, webhook: &str) -> Vec<String> {
        self.alert_ids_at(&self.name(webhook))
    }

    /// The alert id of every request received at `path` so far, in order.
    fn alert_ids_at(&self, path: &str) -> Vec<String> {
        self.platform
            .sink
            .received(path)
            .iter()
            .map(|r| {
                r.json()["alert"]["alert_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn list(&self, alerts: &str) -> Vec<String> {
        let mut names: Vec<String> = alerts.split(',').map(|a| self.name(a.trim())).collect();
        names.sort();
        names
    }
}

#[given("the platform is running")]
async fn running(w: &mut Alerting) {
    let url = format!("{}/health", w.platform.rule_service);
    let (status, _) = w.call(reqwest::Method::GET, url, None).await;
    assert_eq!(status, 200);
}

#[given(
    expr = "the client {string} with a rule {string} for severity {string}, source {string} and name {string}"
)]
async fn client_with_rule(
    w: &mut Alerting,
    client: String,
    alias: String,
    severity: String,
    source: String,
    name: String,
) {
    w.create_client(&client).await;
    w.create_rule(&client, &alias, &severity, &source, &name, true)
        .await;
}

#[given(expr = "the rule {string} sends to the webhook {string}")]
async fn webhook(w: &mut Alerting, rule: String, hook: String) {
    let url = w.platform.sink.url(&w.name(&hook));
    w.add_endpoint(&rule, json!({"type": "webhook", "value": url}))
        .await;
}

#[given("the rules are in effect")]
#[when("2 seconds pass")]
async fn in_effect(_: &mut Alerting) {
    // The promise: a rule change reaches the evaluator within 2 seconds.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[when(
    expr = "the alert {string} arrives with severity {string}, source {string} and name {string}"
)]
async fn alert(w: &mut Alerting, id: String, severity: String, source: String, name: String) {
    w.send_alert(&id, &severity, &source, &name).await;
}

#[then(expr = "the webhook {string} receives the alerts {string}")]
async fn webhook_receives(w: &mut Alerting, webhook: String, alerts: String) {
    let expected = w.list(&alerts);
    let mut got = w.webhook_alerts(&webhook, expected.len()).await;
    got.sort();
    assert_eq!(got, expected, "each alert exactly once");
}
