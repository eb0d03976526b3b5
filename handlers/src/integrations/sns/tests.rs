//! SNS messages as AWS's documentation gives them, signed here with a test key
//! (`testdata/`: an RSA key and a certificate for it, made for these tests only), and
//! the certificate served by a fake fetcher that records what it was asked for.

use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};

use super::*;
use crate::domain::AlertStatus;

const CERTIFICATE: &[u8] = include_bytes!("testdata/signing-cert.pem");
const CERT_URL: &str = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem";
const SUBSCRIBE_URL: &str = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37";
const ALARM_ARN: &str = "arn:aws:cloudwatch:us-west-2:123456789012:alarm:cpu-high";

#[derive(Default)]
struct Recorded(Mutex<Vec<String>>);

#[async_trait]
impl Fetch for Recorded {
    async fn get(&self, url: &Url) -> Result<Vec<u8>, String> {
        self.0.lock().expect("lock").push(url.to_string());
        Ok(if url.path().ends_with(".pem") {
            CERTIFICATE.to_vec()
        } else {
            b"<ConfirmSubscriptionResponse/>".to_vec()
        })
    }
}

fn sns() -> (Sns, Arc<Recorded>) {
    let fetched = Arc::new(Recorded::default());
    let hosts = SnsHosts::parse(SnsHosts::AWS).expect("patterns");
    (Sns::new(hosts, fetched.clone()), fetched)
}

/// `text` signed with the test key by OpenSSL (RSA PKCS#1 v1.5 with `digest`): ring
/// signs no SHA-1, which SNS's version 1 is.
fn openssl_sign(text: &str, digest: &str) -> Vec<u8> {
    use std::io::Write;
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/integrations/sns/testdata/signing-key.pem"
    );
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", digest, "-sign", key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("written");
    let out = child.wait_with_output().expect("openssl ends");
    assert!(out.status.success(), "openssl dgst failed");
    out.stdout
}

/// `message` with its signature (version `version`) made by the test key.
fn signed(mut message: Value, version: &str) -> SnsMessage {
    message["SignatureVersion"] = json!(version);
    message["Signature"] = json!("");
    let unsigned: SnsMessage = serde_json::from_value(message.clone()).expect("a message");
    let text = signature::string_to_sign(&unsigned).expect("signable");
    let signature = openssl_sign(&text, if version == "1" { "-sha1" } else { "-sha256" });
    message["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(signature));
    serde_json::from_value(message).expect("a message")
}

/// Now, as SNS writes it.
fn sns_now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn confirmation() -> Value {
    json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37",
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": sns_now(),
        "SigningCertURL": CERT_URL
    })
}

/// A notification of CloudWatch's, its alarm in `state`.
fn notification(state: &str) -> Value {
    let alarm = json!({
        "AlarmName": "cpu-high",
        "AlarmDescription": "CPU above 80 % on the web tier",
        "AWSAccountId": "123456789012",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [91.2 (12/01/17 16:30:00)] was greater than the threshold (80.0).",
        "StateChangeTime": "2017-01-12T16:30:42.236+0000",
        "Region": "US West (Oregon)",
        "AlarmArn": ALARM_ARN,
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/EC2",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": null,
            "Dimensions": [{"value": "i-0abc", "name": "InstanceId"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 80.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": ""
        }
    });
    json!({
        "Type": "Notification",
        "MessageId": format!("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf3{}", state.len()),
        "TopicArn": "arn:aws:sns:us-west-2:123456789012:alarms",
        "Subject": format!("{state}: \"cpu-high\" in US West (Oregon)"),
        "Message": alarm.to_string(),
        "Timestamp": sns_now(),
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x"
    })
}

async fn alert_of(message: Value) -> Alert {
    let (sns, _) = sns();
    match sns.receive(&signed(message, "2"), Utc::now()).await {
        Ok(Received::Alarm(Some(alert))) => alert,
        other => panic!("an alert: {other:?}"),
    }
}

#[tokio::test]
async fn a_confirmation_signed_either_way_is_confirmed_by_visiting_its_url() {
    for version in ["1", "2"] {
        let (sns, fetched) = sns();
        let received = sns
            .receive(&signed(confirmation(), version), Utc::now())
            .await;
        assert_eq!(
            received.expect("verified"),
            Received::Confirmed,
            "v{version}"
        );
        assert_eq!(*fetched.0.lock().expect("lock"), [CERT_URL, SUBSCRIBE_URL]);
    }
}

#[tokio::test]
async fn the_certificate_is_fetched_once_per_url() {
    let (sns, fetched) = sns();
    for state in ["ALARM", "OK"] {
        sns.receive(&signed(notification(state), "1"), Utc::now())
            .await
            .expect("verified");
    }
    assert_eq!(*fetched.0.lock().expect("lock"), [CERT_URL]);
}

#[tokio::test]
async fn a_changed_field_of_any_signed_message_is_forged() {
    for (message, field) in [
        (notification("ALARM"), "Message"),
        (notification("ALARM"), "Subject"),
        (notification("ALARM"), "TopicArn"),
        (confirmation(), "SubscribeURL"),
        (confirmation(), "Token"),
    ] {
        for version in ["1", "2"] {
            let mut message =
                serde_json::to_value(signed(message.clone(), version).as_json()).expect("json");
            let changed = format!("{}x", message[field].as_str().expect("a string"));
            message[field] = json!(changed);
            let message: SnsMessage = serde_json::from_value(message).expect("a message");
            let (sns, fetched) = sns();
            let err = sns.receive(&message, Utc::now()).await.expect_err(field);
            assert!(
                matches!(err, SnsError::Unverified(Unverified::Forged)),
                "{field} v{version}: {err}"
            );
            // Nothing visited but the certificate.
            assert_eq!(fetched.0.lock().expect("lock").len(), 1);
        }
    }
}

#[tokio::test]
async fn a_certificate_or_confirmation_url_outside_sns_is_refused_before_any_fetch() {
    for (field, url) in [
        (
            "SigningCertURL",
            "https://evil.example/SimpleNotificationService-1.pem",
        ),
        (
            "SigningCertURL",
            "http://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
        ),
        (
            "SubscribeURL",
            "https://evil.example/?Action=ConfirmSubscription",
        ),
    ] {
        let mut message = confirmation();
        message[field] = json!(url);
        let (sns, fetched) = sns();
        let err = sns
            .receive(&signed(message, "2"), Utc::now())
            .await
            .expect_err(url);
        assert!(
            matches!(err, SnsError::Unverified(Unverified::Host { field: f, .. }) if f == field),
            "{url}: {err}"
        );
        let fetched = fetched.0.lock().expect("lock");
        assert!(!fetched.iter().any(|u| u.contains("evil")), "{fetched:?}");
    }
}

#[tokio::test]
async fn a_bad_signature_version_or_encoding_is_refused() {
    let (sns, _) = sns();
    let mut message = signed(notification("ALARM"), "2");
    message.signature_version = "3".to_owned();
    let err = sns.receive(&message, Utc::now()).await.expect_err("v3");
    assert!(
        matches!(err, SnsError::Unverified(Unverified::Version(_))),
        "{err}"
    );
    let mut message = signed(notification("ALARM"), "2");
    message.signature = "not base64!".to_owned();
    let err = sns.receive(&message, Utc::now()).await.expect_err("base64");
    assert!(
        matches!(err, SnsError::Unverified(Unverified::NotBase64)),
        "{err}"
    );
    let mut message = confirmation();
    message.as_object_mut().expect("object").remove("Token");
    message["Signature"] = json!("");
    message["SignatureVersion"] = json!("1");
    let message: SnsMessage = serde_json::from_value(message).expect("a message");
    let err = sns.receive(&message, Utc::now()).await.expect_err("token");
    assert!(
        matches!(err, SnsError::Unverified(Unverified::Missing("Token", _))),
        "{err}"
    );
}

#[tokio::test]
async fn an_alarm_fires_and_its_ok_resolves_by_the_alarms_arn() {
    let fired = alert_of(notification("ALARM")).await;
    assert_eq!(fired.status, AlertStatus::Firing);
    assert_eq!(fired.dedup_key.as_deref(), Some(ALARM_ARN));
    assert_eq!(fired.name, "cpu-high");
    assert_eq!(fired.source, "AWS/EC2");
    assert_eq!(fired.severity.as_str(), "HIGH");
    assert_eq!(fired.alert_id, "sns:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf35");
    assert_eq!(fired.event_ts.to_rfc3339(), "2017-01-12T16:30:42.236+00:00");
    let context = &fired.context;
    assert_eq!(context["dimensions"], "InstanceId=i-0abc");
    assert_eq!(context["threshold"], "GreaterThanThreshold 80.0");
    assert_eq!(context["metric"], "CPUUtilization");
    assert_eq!(context["state"], "OK -> ALARM");
    let resolved = alert_of(notification("OK")).await;
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(resolved.dedup_key, fired.dedup_key);
    assert_ne!(resolved.alert_id, fired.alert_id);
}

#[tokio::test]
async fn a_message_signed_more_than_an_hour_ago_is_refused() {
    let mut old = notification("ALARM");
    old["Timestamp"] = json!("2017-01-12T16:30:42.318Z");
    let (sns, _) = sns();
    let err = sns
        .receive(&signed(old, "2"), Utc::now())
        .await
        .expect_err("replayed");
    assert!(
        matches!(err, SnsError::Unverified(Unverified::Stale(_))),
        "{err}"
    );
}

#[tokio::test]
async fn insufficient_data_makes_no_alert() {
    let (sns, _) = sns();
    let received = sns
        .receive(&signed(notification("INSUFFICIENT_DATA"), "1"), Utc::now())
        .await;
    assert_eq!(received.expect("verified"), Received::Alarm(None));
}

#[tokio::test]
async fn a_notification_that_is_no_alarm_names_what_is_wrong() {
    let (sns, _) = sns();
    let mut plain = notification("ALARM");
    plain["Message"] = json!("hello from a topic");
    let err = sns
        .receive(&signed(plain, "2"), Utc::now())
        .await
        .expect_err("text");
    assert!(
        matches!(
            err,
            SnsError::Invalid {
                field: "Message",
                ..
            }
        ),
        "{err}"
    );
    let mut unknown = notification("ALARM");
    unknown["Message"] = json!(json!({"AlarmName": "x", "NewStateValue": "MAYBE"}).to_string());
    let err = sns
        .receive(&signed(unknown, "2"), Utc::now())
        .await
        .expect_err("state");
    assert!(
        matches!(
            err,
            SnsError::Invalid {
                field: "Message.NewStateValue",
                ..
            }
        ),
        "{err}"
    );
    let mut message = signed(notification("ALARM"), "2");
    message.kind = "Gossip".to_owned();
    let err = sns.receive(&message, Utc::now()).await.expect_err("type");
    assert!(
        matches!(err, SnsError::Invalid { field: "Type", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn an_alarm_without_an_arn_is_keyed_by_account_region_and_name() {
    let mut old = notification("ALARM");
    let mut alarm: Value =
        serde_json::from_str(old["Message"].as_str().expect("text")).expect("json");
    alarm.as_object_mut().expect("object").remove("AlarmArn");
    old["Message"] = json!(alarm.to_string());
    let alert = alert_of(old).await;
    assert_eq!(
        alert.dedup_key.as_deref(),
        Some("cloudwatch:123456789012:US West (Oregon):cpu-high")
    );
}

impl SnsMessage {
    /// Back to the JSON SNS sent.
    fn as_json(&self) -> Value {
        json!({
            "Type": self.kind, "MessageId": self.message_id, "Token": self.token,
            "TopicArn": self.topic_arn, "Subject": self.subject, "Message": self.message,
            "Timestamp": self.timestamp, "SignatureVersion": self.signature_version,
            "Signature": self.signature, "SigningCertURL": self.signing_cert_url,
            "SubscribeURL": self.subscribe_url,
        })
    }
}
