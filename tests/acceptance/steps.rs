//! The steps: what a user does and sees, in the user's words. Every name a scenario
//! uses (clients, alerts, webhooks, addresses) is given the scenario's own prefix, so
//! scenarios run side by side on one platform.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use alerting_handlers::signature;
use cucumber::{World, given, then, when};
use serde_json::{Value, json};

use crate::{platform::Platform, sinks::Answer};

/// The platform of the mode being run.
pub static PLATFORM: RwLock<Option<Arc<Platform>>> = RwLock::new(None);

const PATIENCE: Duration = Duration::from_secs(60);

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

    fn address(&self, address: &str) -> String {
        match address.split_once('@') {
            Some((local, domain)) => format!("{local}+{}@{domain}", self.prefix),
            None => address.to_owned(),
        }
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

    /// A call with the key `alias` (or no token at all) instead of the admin token.
    async fn call_as(
        &mut self,
        alias: Option<&str>,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = alerting::http_client::client().request(method, url);
        if let Some(alias) = alias {
            let (_, _, key) = self
                .keys
                .get(alias)
                .cloned()
                .unwrap_or_else(|| panic!("no API key called {alias:?}"));
            request = request.bearer_auth(key);
        }
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

    /// The client's one notification, for `alert`, once settled; it has `status`.
    async fn settled_with_status(&mut self, alert: &str, client: &str, status: &str) -> Value {
        let items = self.settled(client, 1).await;
        assert_eq!(items[0]["alert_id"], self.name(alert).as_str());
        assert_eq!(items[0]["status"], status, "{:#}", items[0]);
        items[0].clone()
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

    /// Lets the stream run two more seconds, stops it, and returns the alerts it sent
    /// in them.
    async fn stream_for_two_more_seconds(&mut self) -> BTreeSet<String> {
        let stream = self.stream.take().expect("a stream");
        *stream.sent_after_mark.lock().expect("lock") = Some(Vec::new());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = stream.stop.send(true);
        let sent: BTreeSet<String> = stream
            .sent_after_mark
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        assert!(sent.len() >= 5, "the stream kept flowing: {}", sent.len());
        sent
    }

    /// The alert id of every request a webhook has received so far, in order.
    fn alert_ids_of(&self, webhook: &str) -> Vec<String> {
        self.platform
            .sink
            .received(&self.name(webhook))
            .iter()
            .map(|r| {
                r.json()["alert"]["alert_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The alerts a webhook has received so far.
    fn alert_ids_received(&self, webhook: &str) -> BTreeSet<String> {
        self.alert_ids_of(webhook).into_iter().collect()
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

#[given(expr = "the client {string}")]
#[when(expr = "I create the client {string}")]
async fn client(w: &mut Alerting, name: String) {
    w.create_client(&name).await;
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

#[given(
    expr = "{string} has a rule {string} for severity {string}, source {string} and name {string}"
)]
#[when(
    expr = "I give {string} a rule {string} for severity {string}, source {string} and name {string}"
)]
async fn rule(
    w: &mut Alerting,
    client: String,
    alias: String,
    severity: String,
    source: String,
    name: String,
) {
    w.create_rule(&client, &alias, &severity, &source, &name, true)
        .await;
}

#[given(
    expr = "{string} has a disabled rule {string} for severity {string}, source {string} and name {string}"
)]
async fn disabled_rule(
    w: &mut Alerting,
    client: String,
    alias: String,
    severity: String,
    source: String,
    name: String,
) {
    w.create_rule(&client, &alias, &severity, &source, &name, false)
        .await;
}

#[when(
    expr = "I create a rule for {string} with severity {string}, source {string} and name {string}"
)]
async fn try_rule(
    w: &mut Alerting,
    client: String,
    severity: String,
    source: String,
    name: String,
) {
    let body =
        json!({"client_id": w.name(&client), "severity": severity, "source": source, "name": name});
    w.api(reqwest::Method::POST, "/api/v1/rules", Some(body))
        .await;
}

#[given(expr = "the rule {string} sends to the webhook {string}")]
async fn webhook(w: &mut Alerting, rule: String, hook: String) {
    let url = w.platform.sink.url(&w.name(&hook));
    w.add_endpoint(&rule, json!({"type": "webhook", "value": url}))
        .await;
}

#[given(expr = "the rule {string} sends to the disabled webhook {string}")]
async fn disabled_webhook(w: &mut Alerting, rule: String, webhook: String) {
    let url = w.platform.sink.url(&w.name(&webhook));
    w.add_endpoint(
        &rule,
        json!({"type": "webhook", "value": url, "enabled": false}),
    )
    .await;
}

#[given(expr = "the rule {string} sends to the webhook {string} signed with {string}")]
async fn signed_webhook(w: &mut Alerting, rule: String, webhook: String, secret: String) {
    let url = w.platform.sink.url(&w.name(&webhook));
    w.add_endpoint(
        &rule,
        json!({"type": "webhook", "value": url, "secret": secret}),
    )
    .await;
}

#[given(expr = "the rule {string} sends to the Slack channel {string}")]
async fn slack(w: &mut Alerting, rule: String, channel: String) {
    let url = w.platform.sink.url(&w.name(&channel));
    w.add_endpoint(&rule, json!({"type": "slack", "value": url}))
        .await;
}

#[given(expr = "the rule {string} sends email to {string}")]
async fn email(w: &mut Alerting, rule: String, address: String) {
    let address = w.address(&address);
    w.add_endpoint(&rule, json!({"type": "email", "value": address}))
        .await;
}

#[given(expr = "the webhook {string} answers {string}")]
async fn webhook_answers(w: &mut Alerting, webhook: String, answers: String) {
    let answers = answers
        .split(", then ")
        .map(|answer| match answer.trim() {
            "a timeout" => Answer::Hang(Duration::from_secs(3)),
            other if other.starts_with("429 after ") => Answer::TooManyRequests(
                other
                    .trim_start_matches("429 after ")
                    .trim_end_matches(" s")
                    .parse()
                    .expect("seconds"),
            ),
            other => Answer::Status(other.parse().expect("a status code")),
        })
        .collect();
    w.platform.sink.script(&w.name(&webhook), answers);
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

#[then(expr = "the request is refused with {int} naming {string}")]
async fn refused_naming(w: &mut Alerting, status: u16, field: String) {
    let (got, body) = w.reply.clone().expect("a reply");
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["field"], field.as_str(), "{body}");
}

#[then(expr = "the request is refused with {int}")]
async fn refused(w: &mut Alerting, status: u16) {
    let (got, body) = w.reply.clone().expect("a reply");
    assert_eq!(got, status, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
}

#[then(
    expr = "the rule reads severity {string}, source {string}, name {string}, enabled, version {int}"
)]
async fn rule_reads(
    w: &mut Alerting,
    severity: String,
    source: String,
    name: String,
    version: i64,
) {
    let (status, body) = w.reply.clone().expect("a reply");
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["severity"].as_str(),
            body["source"].as_str(),
            body["name"].as_str()
        ),
        (
            Some(severity.as_str()),
            Some(source.as_str()),
            Some(name.as_str())
        )
    );
    assert_eq!(
        (body["enabled"].as_bool(), body["version"].as_i64()),
        (Some(true), Some(version))
    );
}

#[when(expr = "I disable the rule {string} at version {int}")]
async fn disable(w: &mut Alerting, rule: String, version: i64) {
    let path = format!("/api/v1/rules/{}", w.rule(&rule));
    w.api(
        reqwest::Method::PATCH,
        &path,
        Some(json!({"version": version, "enabled": false})),
    )
    .await;
}

#[when(expr = "I rename the rule {string} to {string} at version {int}")]
async fn rename(w: &mut Alerting, rule: String, name: String, version: i64) {
    let path = format!("/api/v1/rules/{}", w.rule(&rule));
    w.api(
        reqwest::Method::PATCH,
        &path,
        Some(json!({"version": version, "name": name})),
    )
    .await;
}

#[when(expr = "I delete the rule {string} at version {int}")]
async fn delete(w: &mut Alerting, rule: String, version: i64) {
    let path = format!("/api/v1/rules/{}?version={version}", w.rule(&rule));
    w.api(reqwest::Method::DELETE, &path, None).await;
}

#[then(expr = "the request succeeds with {int}")]
async fn succeeds(w: &mut Alerting, status: u16) {
    let (got, body) = w.reply.clone().expect("a reply");
    assert_eq!(got, status, "{body}");
}

#[then(expr = "I am told the rule is now at version {int}")]
async fn stale(w: &mut Alerting, version: i64) {
    let (status, body) = w.reply.clone().expect("a reply");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("version_conflict")),
        "{body}"
    );
    assert_eq!(body["error"]["current_version"].as_i64(), Some(version));
}

#[when(expr = "I add the webhook {string} with the secret {string} to the rule {string}")]
async fn add_webhook(w: &mut Alerting, url: String, secret: String, rule: String) {
    let path = format!("/api/v1/rules/{}/endpoints", w.rule(&rule));
    w.api(
        reqwest::Method::POST,
        &path,
        Some(json!({"type": "webhook", "value": url, "secret": secret})),
    )
    .await;
}

#[when(expr = "I add the email address {string} to the rule {string}")]
async fn add_email(w: &mut Alerting, address: String, rule: String) {
    let path = format!("/api/v1/rules/{}/endpoints", w.rule(&rule));
    w.api(
        reqwest::Method::POST,
        &path,
        Some(json!({"type": "email", "value": address})),
    )
    .await;
}

#[then("no answer shows the secret")]
async fn no_secret(w: &mut Alerting) {
    let (_, body) = w.reply.clone().expect("a reply");
    assert!(
        body.get("secret").is_none() && body["has_secret"] == true,
        "{body}"
    );
    let id = body["endpoint_id"]
        .as_str()
        .expect("endpoint id")
        .to_owned();
    let read = w
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/endpoints/{id}"),
            None,
        )
        .await;
    assert!(!read.to_string().contains("s3cret"), "{read}");
}

#[then(expr = "the webhook {string} receives the alerts {string}")]
async fn webhook_receives(w: &mut Alerting, webhook: String, alerts: String) {
    let expected = w.list(&alerts);
    let mut got = w.webhook_alerts(&webhook, expected.len()).await;
    got.sort();
    assert_eq!(got, expected, "each alert exactly once");
}

#[then(expr = "the webhook {string} receives nothing")]
async fn webhook_nothing(w: &mut Alerting, webhook: String) {
    // Checked after the scenario's other deliveries have arrived.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(w.platform.sink.received(&w.name(&webhook)).is_empty());
}

#[then(expr = "the webhook {string} receives {int} notifications")]
async fn webhook_count(w: &mut Alerting, webhook: String, count: usize) {
    let got = w.webhook_alerts(&webhook, count).await;
    assert_eq!(got.len(), count);
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>().len(),
        count,
        "all different alerts"
    );
}

#[then(expr = "every delivery to {string} is signed with {string}")]
async fn signed(w: &mut Alerting, webhook: String, secret: String) {
    let received = w.platform.sink.received(&w.name(&webhook));
    assert!(!received.is_empty());
    for request in received {
        let timestamp: i64 = request
            .header("x-alerting-timestamp")
            .unwrap_or_default()
            .parse()
            .unwrap_or(0);
        let header = request.header("x-alerting-signature").unwrap_or_default();
        assert!(
            signature::verify(&secret, timestamp, &request.body, header),
            "a valid signature"
        );
        assert!(!signature::verify(
            "not-the-secret",
            timestamp,
            &request.body,
            header
        ));
        assert!(request.header("idempotency-key").is_some());
    }
}

#[then(expr = "the Slack channel {string} gets a message about {string}")]
async fn slack_message(w: &mut Alerting, channel: String, headline: String) {
    let path = w.name(&channel);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while w.platform.sink.received(&path).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no Slack message");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let messages = w.platform.sink.received(&path);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].json()["text"], headline.as_str());
}

#[then(expr = "{string} gets an email about {string}")]
async fn email_received(w: &mut Alerting, address: String, subject: String) {
    let address = format!("<{}>", w.address(&address));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mails: Vec<_> = w
            .platform
            .smtp
            .mails()
            .into_iter()
            .filter(|m| m.to.contains(&address))
            .collect();
        if !mails.is_empty() {
            assert_eq!(mails.len(), 1, "{mails:#?}");
            assert!(
                mails[0].data.contains(&format!("Subject: {subject}")),
                "{}",
                mails[0].data
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no email to {address}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[then(expr = "{string} has {int} notification(s)")]
async fn notification_count(w: &mut Alerting, client: String, count: usize) {
    w.settled(&client, count).await;
}

#[then(
    expr = "the notification of {string} for {string} is {word} after {int} attempt(s) to {string}"
)]
async fn final_status(
    w: &mut Alerting,
    alert: String,
    client: String,
    status: String,
    attempts: i64,
    webhook: String,
) {
    let notification = w.settled_with_status(&alert, &client, &status).await;
    let id = notification["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let detail = w
        .ok(
            reqwest::Method::GET,
            &format!("/api/v1/notifications/{id}"),
            None,
        )
        .await;
    let target = w.platform.sink.url(&w.name(&webhook));
    let delivery = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["target"] == target.as_str())
        .cloned()
        .expect("the delivery");
    assert_eq!(
        delivery["attempts"].as_i64(),
        Some(attempts),
        "{delivery:#}"
    );
}

#[when(expr = "I retry the notification of {string} for {string}")]
async fn retry(w: &mut Alerting, alert: String, client: String) {
    let items = w.settled(&client, 1).await;
    assert_eq!(items[0]["alert_id"], w.name(&alert).as_str());
    let id = items[0]["notification_id"].as_str().expect("id").to_owned();
    let (status, body) = w
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/notifications/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

#[then(expr = "the webhook {string} saw {int} requests with one idempotency key")]
async fn one_key(w: &mut Alerting, webhook: String, count: usize) {
    let received = w.platform.sink.received(&w.name(&webhook));
    assert_eq!(received.len(), count);
    let keys: BTreeSet<_> = received
        .iter()
        .map(|r| r.header("idempotency-key").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[given(expr = "alerts keep arriving from {string}")]
async fn stream(w: &mut Alerting, source: String) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let sent_after_mark: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
    let (platform, prefix, marks) = (
        w.platform.clone(),
        w.prefix.clone(),
        sent_after_mark.clone(),
    );
    tokio::spawn(async move {
        let mut n = 0;
        while !*stopped.borrow_and_update() {
            let id = format!("{prefix}-stream-{n}");
            let body =
                json!({"alert_id": id, "severity": "MEDIUM", "source": source, "name": "tick"});
            let sent = platform
                .http
                .post(format!("{}/api/v1/alerts", platform.alert_producer))
                .json(&body)
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().as_u16() == 202)
                && let Some(after) = marks.lock().expect("lock").as_mut()
            {
                after.push(id);
            }
            n += 1;
            tokio::select! {
                _ = stopped.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
    w.stream = Some(Stream {
        sent_after_mark,
        stop,
    });
}

#[when(
    expr = "I give {string} a rule {string} for source {string} that sends to the webhook {string}"
)]
async fn rule_while_streaming(
    w: &mut Alerting,
    client: String,
    alias: String,
    source: String,
    webhook: String,
) {
    w.create_rule(&client, &alias, "*", &source, "*", true)
        .await;
    let url = w.platform.sink.url(&w.name(&webhook));
    w.add_endpoint(&alias, json!({"type": "webhook", "value": url}))
        .await;
}

#[then(expr = "every alert of the stream sent from then on reaches the webhook {string}")]
async fn stream_delivered(w: &mut Alerting, webhook: String) {
    let expected = w.stream_for_two_more_seconds().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = w.alert_ids_received(&webhook);
        if expected.is_subset(&got) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing: {:?}",
            expected.difference(&got).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[when(expr = "I start a load generation job of {int} alerts from {string} with seed {int}")]
async fn start_job(w: &mut Alerting, count: u64, source: String, seed: u64) {
    let url = format!("{}/api/v1/alerts/generate", w.platform.alert_producer);
    let (status, body) = w
        .call(
            reqwest::Method::POST,
            url,
            Some(json!({"count": count, "seed": seed, "sources": {source: 1}})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    w.job = Some(body);
}

#[then(expr = "the job completes having sent {int} alerts")]
async fn job_completes(w: &mut Alerting, count: u64) {
    let id = w
        .job
        .as_ref()
        .and_then(|j| j["job_id"].as_str())
        .expect("a job")
        .to_owned();
    let url = format!("{}/api/v1/alerts/generate/{id}", w.platform.alert_producer);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, status) = w.call(reqwest::Method::GET, url.clone(), None).await;
        if status["status"] == "completed" {
            assert_eq!(
                (status["sent"].as_u64(), status["errors"].as_u64()),
                (Some(count), Some(0))
            );
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[then(expr = "the webhook {string} receives {int} notifications from the job")]
async fn job_delivered(w: &mut Alerting, webhook: String, count: usize) {
    let path = w.name(&webhook);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while w.platform.sink.received(&path).len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count}",
            w.platform.sink.received(&path).len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: BTreeSet<String> = w
        .platform
        .sink
        .received(&path)
        .iter()
        .map(|r| {
            r.json()["alert"]["alert_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), count, "one notification per generated alert");
}

#[given(expr = "{string} has an API key {string} to manage its rules")]
async fn manage_key(w: &mut Alerting, client: String, alias: String) {
    make_key(w, &client, &alias, "manage").await;
}

#[given(expr = "{string} has an API key {string} to post alerts")]
async fn ingest_key(w: &mut Alerting, client: String, alias: String) {
    make_key(w, &client, &alias, "ingest").await;
}

async fn make_key(w: &mut Alerting, client: &str, alias: &str, scope: &str) {
    let client = w.name(client);
    let key = w
        .ok(
            reqwest::Method::POST,
            &format!("/api/v1/clients/{client}/keys"),
            Some(json!({"name": alias, "scopes": [scope]})),
        )
        .await;
    let id = key["key_id"].as_str().expect("key id").to_owned();
    let secret = key["key"].as_str().expect("the key, shown once").to_owned();
    w.keys.insert(alias.to_owned(), (client, id, secret));
}

#[when("I list the rules without a token")]
async fn list_rules_anonymously(w: &mut Alerting) {
    let url = format!("{}/api/v1/rules", w.platform.rule_service);
    w.call_as(None, reqwest::Method::GET, url, None).await;
}

#[when(expr = "{string} lists the rules")]
async fn list_rules_as(w: &mut Alerting, alias: String) {
    let url = format!("{}/api/v1/rules", w.platform.rule_service);
    w.call_as(Some(&alias), reqwest::Method::GET, url, None)
        .await;
}

#[when(expr = "{string} reads the rule {string}")]
async fn read_rule_as(w: &mut Alerting, alias: String, rule: String) {
    let url = format!("{}/api/v1/rules/{}", w.platform.rule_service, w.rule(&rule));
    w.call_as(Some(&alias), reqwest::Method::GET, url, None)
        .await;
}

#[when(expr = "{string} creates the client {string}")]
async fn create_client_as(w: &mut Alerting, alias: String, client: String) {
    let url = format!("{}/api/v1/clients", w.platform.rule_service);
    let body = json!({"client_id": w.name(&client)});
    w.call_as(Some(&alias), reqwest::Method::POST, url, Some(body))
        .await;
}

#[when(expr = "{string} posts the alert {string}")]
async fn post_alert_as(w: &mut Alerting, alias: String, alert: String) {
    let url = format!("{}/api/v1/alerts", w.platform.alert_producer);
    // The scenario waits for its delivery, so no later scenario's rule can match it.
    let body = json!({"alert_id": w.name(&alert), "severity": "LOW", "source": "keys", "name": "check", "context": {"scenario": w.prefix}});
    w.call_as(Some(&alias), reqwest::Method::POST, url, Some(body))
        .await;
}

#[when(expr = "I revoke the API key {string}")]
async fn revoke_key(w: &mut Alerting, alias: String) {
    let (client, id, _) = w.keys.get(&alias).cloned().expect("a key");
    let (status, body) = w
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v1/clients/{client}/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

#[then(expr = "it sees the rule {string} only")]
async fn sees_only(w: &mut Alerting, rule: String) {
    let (status, body) = w.reply.clone().expect("a reply");
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["rule_id"].as_str())
        .collect();
    assert_eq!(ids, [w.rule(&rule).as_str()], "{body}");
}

#[when(expr = "I try to create the client {string}")]
async fn try_client(w: &mut Alerting, name: String) {
    let id = w.name(&name);
    let (status, _) = w
        .api(
            reqwest::Method::POST,
            "/api/v1/clients",
            Some(json!({"client_id": id})),
        )
        .await;
    if status == 201 {
        w.clients.push(id);
    }
}

#[when(expr = "I delete the client {string}")]
async fn delete_client(w: &mut Alerting, name: String) {
    let path = format!("/api/v1/clients/{}", w.name(&name));
    w.api(reqwest::Method::DELETE, &path, None).await;
}

#[then(expr = "the client {string} and its rule {string} are gone")]
async fn client_gone(w: &mut Alerting, client: String, rule: String) {
    let client_path = format!("/api/v1/clients/{}", w.name(&client));
    let rule_path = format!("/api/v1/rules/{}", w.rule(&rule));
    for path in [client_path, rule_path] {
        let (status, body) = w.api(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

#[then(expr = "the notification of {string} for {string} is {word}")]
async fn status_only(w: &mut Alerting, alert: String, client: String, status: String) {
    w.settled_with_status(&alert, &client, &status).await;
}

#[given(expr = "the webhook {string} is receiving the stream")]
async fn receiving_stream(w: &mut Alerting, webhook: String) {
    w.platform.sink.wait_for(&w.name(&webhook), 1).await;
}

#[then(expr = "no alert of the stream sent from then on reaches the webhook {string}")]
async fn stream_stopped(w: &mut Alerting, webhook: String) {
    let after = w.stream_for_two_more_seconds().await;
    // Whatever was still on its way has arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = w.alert_ids_received(&webhook);
    let late: Vec<&String> = got.intersection(&after).collect();
    assert!(late.is_empty(), "delivered after the change: {late:?}");
}
