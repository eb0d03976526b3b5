//! CloudWatch alarms through Amazon SNS (`POST /api/v1/integrations/sns?key=…`), with
//! SNS played by the test (`alerting_test_support::sns`: a signing key and certificate
//! from a CA the test makes, served over HTTPS): the subscription confirms itself; an
//! alarm fires once however often SNS redelivers it, and its OK delivers the
//! resolution; a forged message, a certificate outside SNS's hosts and a missing key
//! are refused with nothing stored.

use alerting_test_support::sns::FakeSns;
use serde_json::{Value, json};

use super::{Mode, tools::hooked};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alarms";

/// Posts `message` as SNS does: JSON, as text/plain.
async fn post(url: &str, message: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/plain; charset=UTF-8")
        .header(
            "x-amz-sns-message-type",
            message["Type"].as_str().unwrap_or_default(),
        )
        .body(message.to_string())
        .send()
        .await
        .expect("the alert-producer answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn cloudwatch_alarms_through_sns_fire_once_and_resolve(mode: Mode) {
    let (p, sink, key, producer) = hooked(mode).await;
    let sns = FakeSns::start().await;
    let url = format!("http://{producer}/api/v1/integrations/sns?key={key}");

    let (status, answer) = post(&url, &sns.confirmation(TOPIC, "token-1")).await;
    assert_eq!((status, &answer), (200, &json!({"status": "confirmed"})));
    assert_eq!(sns.confirmed(), ["token-1"]);

    // Signed, then changed on the way: refused, and never on the bus (it would come
    // before the real alarm, whose key it shares, and be what is delivered).
    let mut forged = sns.alarm(TOPIC, "cpu-high", "ALARM");
    forged["Message"] = json!(
        forged["Message"]
            .as_str()
            .expect("text")
            .replace("91.0", "99.0")
    );
    let (status, answer) = post(&url, &forged).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("signature does not match")),
        "{answer}"
    );
    let mut outside = sns.alarm(TOPIC, "cpu-high", "ALARM");
    outside["SigningCertURL"] = json!("https://sns.us-east-1.amazonaws.com.evil.test/x.pem");
    let (status, answer) = post(&url, &outside).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("SigningCertURL must be an https:// URL on an SNS host")),
        "{answer}"
    );
    let keyless = format!("http://{producer}/api/v1/integrations/sns");
    let (status, _) = post(&keyless, &sns.alarm(TOPIC, "cpu-high", "ALARM")).await;
    assert_eq!(status, 401);

    let alarm = sns.alarm(TOPIC, "cpu-high", "ALARM");
    let (status, answer) = post(&url, &alarm).await;
    let alert_id = format!("sns:{}", alarm["MessageId"].as_str().expect("id"));
    assert_eq!(
        (status, &answer),
        (200, &json!({"status": "accepted", "alert_ids": [alert_id]}))
    );
    // SNS redelivers a message it got no answer for, with the same MessageId.
    let (status, _) = post(&url, &alarm).await;
    assert_eq!(status, 200);
    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let hooks = sink.received("hook");
    assert_eq!(hooks.len(), 1, "one delivery");
    let body = hooks[0].json();
    assert_eq!(
        (
            &body["alert"]["name"],
            &body["alert"]["source"],
            &body["alert"]["severity"]
        ),
        (&json!("cpu-high"), &json!("AWS/EC2"), &json!("HIGH"))
    );
    let context = &body["alert"]["context"];
    assert!(
        context["reason"]
            .as_str()
            .is_some_and(|r| r.contains("[91.0]")),
        "{context}"
    );
    assert_eq!(context["dimensions"], "InstanceId=i-0abc");
    assert_eq!(
        context["alarm_arn"],
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high"
    );

    let (status, answer) = post(&url, &sns.alarm(TOPIC, "cpu-high", "INSUFFICIENT_DATA")).await;
    assert_eq!((status, &answer), (200, &json!({"status": "ignored"})));

    let (status, answer) = post(&url, &sns.alarm(TOPIC, "cpu-high", "OK")).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &json!("accepted")),
        "{answer}"
    );
    let detail = p.resolution_settled(&id).await;
    assert_eq!(
        (
            &detail["state"],
            &detail["resolution_status"],
            &detail["occurrences"]
        ),
        (&json!("resolved"), &json!("SENT"), &json!(1)),
        "{detail:#}"
    );
    let statuses: Vec<Value> = sink
        .received("hook")
        .iter()
        .map(|hook| hook.json()["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("firing"), json!("resolved")]);
    assert_eq!(p.settled_notifications("acme", 1).await.len(), 1);
}

on_both_modes!(cloudwatch_alarms_through_sns_fire_once_and_resolve);
