//! Steps of `features/managing_rules.feature`: creating, changing and deleting
//! clients, rules and endpoints through the rule-service, and what it answers. Other
//! features create their clients and rules, disable a rule, and check that a request
//! succeeds or is refused with these steps too.

use cucumber::{given, then, when};
use serde_json::json;

use super::Alerting;

#[given(expr = "the client {string}")]
#[when(expr = "I create the client {string}")]
async fn client(w: &mut Alerting, name: String) {
    w.create_client(&name).await;
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
