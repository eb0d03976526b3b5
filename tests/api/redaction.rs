//! A delivery URL's secrets (a Slack webhook's key in its path, a `?token=` in its
//! query) appear in no delivery error and no log line, with `alerting up` logging at
//! debug level as an operator following a delivery would.

use std::time::Duration;

use alerting_test_support::{alerting_command, process::Running};
use serde_json::{Value, json};

const PATH_SECRET: &str = "XyzPathKey0123";
const QUERY_SECRET: &str = "s3cret0123";
const PATIENCE: Duration = Duration::from_secs(60);

/// A loopback port nobody listens on: bound, then let go.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> Value {
    let mut request = http.request(method.clone(), &url);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {url}: {status} {body}");
    body
}

/// Posts an alert until one of `client`'s notifications has settled as FAILED (a new
/// rule reaches the evaluator within 2 s; alerts sent before are not matched); returns
/// that notification with its deliveries.
async fn failed_notification(http: &reqwest::Client, rules: &str, producer: &str) -> Value {
    let settled = tokio::time::timeout(PATIENCE, async {
        loop {
            call(
                http,
                reqwest::Method::POST,
                format!("{producer}/api/v1/alerts"),
                json!({"severity": "HIGH", "source": "checkout", "name": "down"}),
            )
            .await;
            for _ in 0..20 {
                let failed = call(
                    http,
                    reqwest::Method::GET,
                    format!("{rules}/api/v1/notifications?client_id=shop&status=FAILED"),
                    Value::Null,
                )
                .await;
                if let Some(id) = failed["items"][0]["notification_id"].as_str() {
                    let path = format!("{rules}/api/v1/notifications/{id}");
                    return call(http, reqwest::Method::GET, path, Value::Null).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
    .await;
    settled.expect("a notification failed in time")
}

#[tokio::test]
async fn secrets_in_a_delivery_url_reach_no_error_and_no_log_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command
        .env("RUST_LOG", "info,alerting=debug,alerting_handlers=debug")
        .env("DELIVERY_MAX_ATTEMPTS", "2")
        .env("DELIVERY_BACKOFF", "10ms")
        .arg("up");
    let mut up = Running::start(command);
    let (rules, producer) = up.addresses().await;
    let (rules, producer) = (format!("http://{rules}"), format!("http://{producer}"));
    let http = alerting_test_support::http();
    let post = |path: &str, body: Value| {
        call(&http, reqwest::Method::POST, format!("{rules}{path}"), body)
    };
    post("/api/v1/clients", json!({"client_id": "shop"})).await;
    let rule = post(
        "/api/v1/rules",
        json!({"client_id": "shop", "severity": "*", "source": "checkout", "name": "*"}),
    )
    .await;
    let endpoints = format!(
        "/api/v1/rules/{}/endpoints",
        rule["rule_id"].as_str().expect("rule_id")
    );
    let port = closed_port();
    for (kind, team) in [("webhook", "T0001"), ("slack", "T0002")] {
        let url = format!(
            "http://127.0.0.1:{port}/services/{team}/B0001/{PATH_SECRET}?token={QUERY_SECRET}"
        );
        post(&endpoints, json!({"type": kind, "value": url})).await;
    }

    let notification = failed_notification(&http, &rules, &producer).await;
    let deliveries = notification["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 2, "{notification}");
    for delivery in deliveries {
        let error = delivery["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("connection failed"), "{delivery}");
        assert!(
            !error.contains(PATH_SECRET) && !error.contains(QUERY_SECRET),
            "{error}"
        );
    }

    let (status, lines) = up.terminate().await;
    assert!(status.success());
    assert!(
        lines.iter().any(|line| line.contains("delivery gave up")),
        "the failures were logged: {lines:#?}"
    );
    let leaks: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains(PATH_SECRET) || line.contains(QUERY_SECRET))
        .collect();
    assert!(leaks.is_empty(), "{leaks:#?}");
}

async fn a_duplicate_endpoint_is_named_without_its_key(app: crate::helpers::TestApp) {
    app.client("acme").await;
    let rule = app.rule("acme", "*", "*", "*").await;
    let rule_id = rule["rule_id"].as_str().expect("rule_id");
    let slack = format!("https://hooks.slack.com/services/T0001/B0001/{PATH_SECRET}");
    app.endpoint(rule_id, "slack", &slack).await;
    let again = app
        .post(
            &format!("/api/v1/rules/{rule_id}/endpoints"),
            json!({"type": "slack", "value": slack}),
        )
        .await;
    assert_eq!(again.status, 409, "{again:?}");
    let message = again.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"https://hooks.slack.com/…\""),
        "{message}"
    );
    assert!(!message.contains(PATH_SECRET), "{message}");
}

crate::on_both_backends!(a_duplicate_endpoint_is_named_without_its_key);

/// An ingest key in a URL (`?key=`, for SNS, which sets no header) reaches no log line
/// and no answer, with `alerting up` logging every request at debug level: taken,
/// refused (a forged message, a certificate elsewhere, a body that is no message), an
/// unknown key, and on routes that do not take it.
#[tokio::test]
async fn an_ingest_key_in_a_url_reaches_no_log_line_and_no_answer() {
    let sns = alerting_test_support::sns::FakeSns::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = alerting_command!(dir.path());
    command
        .env("RUST_LOG", "debug,hyper=info,h2=info,rustls=info,sqlx=info")
        .env("SNS_HOSTS", "localhost")
        .env("SNS_CA_FILE", &alerting_test_support::sns::shared_ca().1)
        .arg("up");
    let mut up = Running::start(command);
    let (rules, producer) = up.addresses().await;
    let (rules, producer) = (format!("http://{rules}"), format!("http://{producer}"));
    let http = alerting_test_support::http();
    call(
        &http,
        reqwest::Method::POST,
        format!("{rules}/api/v1/clients"),
        json!({"client_id": "shop"}),
    )
    .await;
    let key = call(
        &http,
        reqwest::Method::POST,
        format!("{rules}/api/v1/clients/shop/keys"),
        json!({"scopes": ["ingest"]}),
    )
    .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let broad = call(
        &http,
        reqwest::Method::POST,
        format!("{rules}/api/v1/clients/shop/keys"),
        json!({"scopes": ["ingest", "manage"]}),
    )
    .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let unknown = format!("alerting_key_{}", "0123456789abcdef".repeat(4));
    let topic = "arn:aws:sns:us-east-1:123456789012:alarms";
    let mut forged = sns.alarm(topic, "cpu-high", "ALARM");
    forged["Subject"] = json!("changed");
    let mut elsewhere = sns.alarm(topic, "cpu-high", "ALARM");
    elsewhere["SigningCertURL"] = json!(format!("https://evil.test/{key}.pem"));
    let sns_route = |key: &str| format!("{producer}/api/v1/integrations/sns?key={key}");
    let plain = reqwest::Client::new();
    let mut answers = Vec::new();
    for (url, body, expected) in [
        (
            sns_route(&key),
            sns.confirmation(topic, "t-1").to_string(),
            200,
        ),
        (
            sns_route(&key),
            sns.alarm(topic, "cpu-high", "ALARM").to_string(),
            200,
        ),
        (sns_route(&key), forged.to_string(), 403),
        (sns_route(&key), elsewhere.to_string(), 403),
        (sns_route(&key), "{not json".to_owned(), 400),
        (sns_route(&key), json!({"Type": 1}).to_string(), 422),
        (
            sns_route(&unknown),
            sns.alarm(topic, "x", "ALARM").to_string(),
            401,
        ),
        // A key that can read and change the client does not belong in a URL.
        (
            sns_route(&broad),
            sns.alarm(topic, "x", "ALARM").to_string(),
            403,
        ),
        (
            sns_route(alerting_test_support::ADMIN_TOKEN),
            "{}".to_owned(),
            401,
        ),
        (
            format!("{producer}/api/v1/alerts?key={key}"),
            "{}".to_owned(),
            401,
        ),
        (
            format!("{producer}/api/v1/nowhere?key={key}"),
            "{}".to_owned(),
            404,
        ),
    ] {
        let response = plain
            .post(&url)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, expected, "{}: {text}", url.replace(&key, "<key>"));
        answers.push(text);
    }
    assert_eq!(sns.confirmed(), ["t-1"]);

    let (status, lines) = up.terminate().await;
    assert!(status.success());
    for secret in [
        key.as_str(),
        broad.as_str(),
        unknown.as_str(),
        alerting_test_support::ADMIN_TOKEN,
    ] {
        let leaks: Vec<&String> = lines.iter().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "{leaks:#?}");
        let echoed: Vec<&String> = answers.iter().filter(|a| a.contains(secret)).collect();
        assert!(echoed.is_empty(), "{echoed:#?}");
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains("/api/v1/integrations/sns?key=…")),
        "requests were logged at debug level: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("SNS message refused"))
    );
}
