//! Amazon SNS as a test plays it: a signing key and its certificate from a CA the test
//! process makes, served over HTTPS on `localhost` with a confirmation URL beside it,
//! and messages (subscription confirmations, CloudWatch alarms) signed as SNS signs
//! them. The platform trusts it through `SNS_HOSTS=localhost` and `SNS_CA_FILE` (the
//! CA of [`shared_ca`], one per test process).
//!
//! The string SNS signs is written here again from AWS's documentation, apart from the
//! platform's own, so a mistake in either shows.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{
    Router,
    extract::{Query, State},
    routing::get,
};
use base64::Engine;
use serde_json::{Value, json};

use crate::tls::{HttpsServer, TestCa};

/// The CA the platform under test trusts for SNS (`SNS_CA_FILE`), and its file.
pub fn shared_ca() -> &'static (TestCa, PathBuf) {
    static CA: OnceLock<(TestCa, PathBuf)> = OnceLock::new();
    CA.get_or_init(|| {
        let ca = TestCa::new("alerting test SNS CA");
        let dir = tempfile::tempdir().expect("dir").keep();
        let path = ca.write(&dir);
        (ca, path)
    })
}

/// The path under which the signing certificate is served, as SNS names it.
const CERT_PATH: &str = "/SimpleNotificationService-0000test.pem";

pub struct FakeSns {
    server: HttpsServer,
    dir: tempfile::TempDir,
    confirmed: Arc<Mutex<Vec<String>>>,
}

impl FakeSns {
    /// A new signing key (RSA, from OpenSSL: ring makes none) and its certificate,
    /// served on `localhost` with a certificate from [`shared_ca`].
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let key = dir.path().join("signing-key.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl genpkey");
        let (ca, _) = shared_ca();
        let certificate = ca.signed_for_key(
            &std::fs::read_to_string(&key).expect("key"),
            "sns.us-east-1.amazonaws.com",
        );
        let confirmed: Arc<Mutex<Vec<String>>> = Arc::default();
        let app = Router::new()
            .route(CERT_PATH, get(move || async move { certificate }))
            .route("/", get(confirm))
            .with_state(confirmed.clone());
        let server = HttpsServer::start(ca, app).await;
        Self {
            server,
            dir,
            confirmed,
        }
    }

    /// The tokens of the subscriptions confirmed (their SubscribeURL visited).
    pub fn confirmed(&self) -> Vec<String> {
        self.confirmed.lock().expect("lock").clone()
    }

    pub fn cert_url(&self) -> String {
        format!("{}{CERT_PATH}", self.server.base)
    }

    /// A subscription confirmation for `topic`, with `token`, signed (version 1).
    pub fn confirmation(&self, topic: &str, token: &str) -> Value {
        let message = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": uuid::Uuid::new_v4().to_string(),
            "Token": token,
            "TopicArn": topic,
            "Message": format!("You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message."),
            "SubscribeURL": format!("{}/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}", self.server.base),
            "Timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "SignatureVersion": "1",
            "SigningCertURL": self.cert_url(),
        });
        self.sign(message)
    }

    /// CloudWatch's notification that the alarm `name` went to `state` (ALARM, OK or
    /// INSUFFICIENT_DATA), as SNS sends it (signature version 2).
    pub fn alarm(&self, topic: &str, name: &str, state: &str) -> Value {
        let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}");
        let now = chrono::Utc::now();
        let change = json!({
            "AlarmName": name,
            "AlarmDescription": format!("{name} on the web tier"),
            "AWSAccountId": "123456789012",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 1 datapoint [91.0] was greater than the threshold (80.0).",
            "StateChangeTime": now.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
            "Region": "US East (N. Virginia)",
            "AlarmArn": arn,
            "OldStateValue": if state == "ALARM" { "OK" } else { "ALARM" },
            "Trigger": {
                "MetricName": "CPUUtilization", "Namespace": "AWS/EC2", "Statistic": "AVERAGE",
                "Dimensions": [{"value": "i-0abc", "name": "InstanceId"}], "Period": 60,
                "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80.0
            }
        });
        let message = json!({
            "Type": "Notification",
            "MessageId": uuid::Uuid::new_v4().to_string(),
            "TopicArn": topic,
            "Subject": format!("{state}: \"{name}\" in US East (N. Virginia)"),
            "Message": change.to_string(),
            "Timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "SignatureVersion": "2",
            "SigningCertURL": self.cert_url(),
            "UnsubscribeURL": format!("{}/?Action=Unsubscribe&SubscriptionArn={topic}:1", self.server.base),
        });
        self.sign(message)
    }

    /// `message` with the signature SNS would give it (its `SignatureVersion`).
    pub fn sign(&self, mut message: Value) -> Value {
        let signed_fields: &[&str] = if message["Type"] == "Notification" {
            &[
                "Message",
                "MessageId",
                "Subject",
                "Timestamp",
                "TopicArn",
                "Type",
            ]
        } else {
            &[
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        };
        let mut text = String::new();
        for field in signed_fields {
            if let Some(value) = message[*field].as_str() {
                text.push_str(&format!("{field}\n{value}\n"));
            }
        }
        let digest = if message["SignatureVersion"] == "1" {
            "-sha1"
        } else {
            "-sha256"
        };
        let signature = openssl_sign(&self.dir.path().join("signing-key.pem"), digest, &text);
        message["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(signature));
        message
    }
}

async fn confirm(
    State(confirmed): State<Arc<Mutex<Vec<String>>>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> &'static str {
    if query.get("Action").map(String::as_str) == Some("ConfirmSubscription")
        && let Some(token) = query.get("Token")
    {
        confirmed.lock().expect("lock").push(token.clone());
    }
    "<ConfirmSubscriptionResponse/>"
}

fn openssl_sign(key: &Path, digest: &str, text: &str) -> Vec<u8> {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", digest, "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("written");
    let out = child.wait_with_output().expect("openssl ends");
    assert!(out.status.success(), "openssl dgst");
    out.stdout
}
