//! Resolutions end to end: a firing alert with a dedup key is delivered to a signed
//! webhook, Slack and email; its resolved alert, sent after it, resolves the
//! notification and delivers the resolution to each of them (the webhook's signed, with
//! an idempotency key of its own; Slack's and the email's saying Resolved and for how
//! long), and to no endpoint that never took the notification. The key then opens a
//! new notification.

use std::time::Duration;

use alerting_handlers::signature;
use alerting_test_support::sinks::{Answer, HttpSink, SmtpSink};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, Pipeline, fast_delivery};

const SECRET: &str = "acme-s3cret-0123456789";

impl Pipeline {
    /// Notification `id` once its resolution's delivery is no longer PENDING.
    pub async fn resolution_settled(&self, id: &str) -> Value {
        self.notification_when(id, |detail| {
            let status = &detail["resolution_status"];
            !status.is_null() && status != "PENDING"
        })
        .await
    }
}

async fn a_resolution_reaches_every_endpoint_that_took_the_notification(mode: Mode) {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(Some(smtp.url()))).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "db", "*").await;
    let hook = p
        .endpoint(
            &rule,
            json!({"type": "webhook", "value": sink.url("hook"), "secret": SECRET}),
        )
        .await;
    p.endpoint(&rule, json!({"type": "slack", "value": sink.url("slack")}))
        .await;
    p.endpoint(&rule, json!({"type": "email", "value": "oncall@acme.test"}))
        .await;
    // Refuses the notification for good: it never took it, so it gets no resolution.
    sink.script("refusing", vec![Answer::Status(400)]);
    p.endpoint(
        &rule,
        json!({"type": "webhook", "value": sink.url("refusing")}),
    )
    .await;
    p.wait_for_rules(1).await;

    let firing = json!({"alert_id": "disk-1", "severity": "HIGH", "source": "db", "name": "disk full", "dedup_key": "db1/disk"});
    p.send(firing).await;
    let notified = p.settled_notifications("acme", 1).await;
    assert_eq!(notified[0]["status"], "PARTIAL", "{notified:#?}");
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();

    p.send(json!({"alert_id": "disk-1-ok", "severity": "HIGH", "source": "db", "name": "disk full", "dedup_key": "db1/disk", "status": "resolved"}))
        .await;
    let detail = p.resolution_settled(&id).await;
    assert_eq!(detail["state"], "resolved", "{detail:#}");
    assert_eq!(detail["resolved_by"], "alert disk-1-ok");
    assert_eq!(detail["resolution_status"], "SENT", "{detail:#}");
    let resolutions: Vec<&Value> = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["phase"] == "resolved")
        .collect();
    assert_eq!(resolutions.len(), 3, "webhook, Slack, email: {detail:#}");
    assert!(resolutions.iter().all(|d| d["status"] == "DELIVERED"));

    let hooks = sink.received("hook");
    assert_eq!(hooks.len(), 2, "the notification, then its resolution");
    let resolution = &hooks[1];
    let timestamp: i64 = resolution
        .header("x-alerting-timestamp")
        .expect("timestamp")
        .parse()
        .expect("seconds");
    let signed = resolution.header("x-alerting-signature").expect("signed");
    assert!(signature::verify(
        SECRET,
        timestamp,
        &resolution.body,
        signed
    ));
    assert_eq!(
        resolution.header("idempotency-key"),
        Some(format!("{id}:{hook}:resolved").as_str())
    );
    assert_eq!(
        hooks[0].header("idempotency-key"),
        Some(format!("{id}:{hook}").as_str())
    );
    let body = resolution.json();
    assert_eq!(body["status"], "resolved", "{body:#}");
    assert_eq!(body["alert"]["status"], "resolved");
    assert_eq!(body["alert"]["alert_id"], "disk-1", "the alert that fired");
    assert!(body["duration_seconds"].is_u64(), "{body:#}");
    assert!(body["resolved_at"].is_string(), "{body:#}");
    assert_eq!(hooks[0].json()["status"], "firing");

    let slack = sink.received("slack");
    assert_eq!(slack.len(), 2);
    let text = slack[1].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        text.starts_with("Resolved: [HIGH] db: disk full, after ") && text.ends_with('s'),
        "{text}"
    );
    assert!(slack[1].json()["blocks"].to_string().contains("*Resolved*"));

    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(
        mails[1]
            .data
            .contains("Subject: Resolved: [HIGH] db: disk full, after "),
        "{}",
        mails[1].data
    );
    assert!(mails[1].data.contains("lasted "), "{}", mails[1].data);

    assert_eq!(
        sink.received("refusing").len(),
        1,
        "the endpoint that refused the notification gets no resolution"
    );

    // The key is free: its next alert is a new notification, delivered.
    p.send(json!({"alert_id": "disk-2", "severity": "HIGH", "source": "db", "name": "disk full", "dedup_key": "db1/disk"}))
        .await;
    let both = p.settled_notifications("acme", 2).await;
    assert_eq!(both[0]["alert_id"], "disk-2", "{both:#?}");
    assert_eq!(both[0]["state"], "open");
    sink.wait_for("hook", 3).await;
}

async fn a_person_resolves_and_the_endpoints_are_told(mode: Mode) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(None)).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("hook")}))
        .await;
    p.wait_for_rules(1).await;
    p.send(json!({"alert_id": "cpu-1", "severity": "LOW", "source": "web", "name": "cpu"}))
        .await;
    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resolved = p
        .api(
            Method::POST,
            &format!("/api/v1/notifications/{id}/resolve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(resolved["resolved_by"], "admin", "{resolved:#}");
    let detail = p.resolution_settled(&id).await;
    assert_eq!(detail["resolution_status"], "SENT", "{detail:#}");
    let hooks = sink.wait_for("hook", 2).await;
    assert_eq!(hooks[1].json()["status"], "resolved");
}

/// A resolve right behind its alert reaches the sender while the notification is still
/// being delivered (the receiver takes its time): it is delivered once that delivery is
/// written, not left to the redrive (minutes away here).
async fn a_resolve_right_behind_its_alert_follows_it_at_once(mode: Mode) {
    let sink = HttpSink::start().await;
    let p = Pipeline::start_with(mode, fast_delivery(None)).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    p.endpoint(&rule, json!({"type": "webhook", "value": sink.url("slow")}))
        .await;
    p.wait_for_rules(1).await;
    sink.script("slow", vec![Answer::Hang(Duration::from_millis(300))]);
    let alert = json!({"alert_id": "flap-1", "severity": "LOW", "source": "web", "name": "flapping", "dedup_key": "web/flap"});
    p.send(alert.clone()).await;
    let mut resolve = alert;
    resolve["alert_id"] = json!("flap-1-ok");
    resolve["status"] = json!("resolved");
    p.send(resolve).await;
    let received = sink.wait_for("slow", 2).await;
    assert_eq!(received[0].json()["status"], "firing");
    assert_eq!(received[1].json()["status"], "resolved");
}

on_both_modes!(
    a_resolution_reaches_every_endpoint_that_took_the_notification,
    a_person_resolves_and_the_endpoints_are_told,
    a_resolve_right_behind_its_alert_follows_it_at_once,
);
