//! Steps of `features/access.feature`: API keys a tenant is given, and calls made with
//! one of them, or with no token at all, instead of the admin token.

use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::Alerting;

impl Alerting {
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
