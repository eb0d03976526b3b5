//! Steps of `features/delivery.feature`: an endpoint of each channel (a signed
//! webhook, a Slack channel, an email address) and what each receiver gets: a valid
//! signature, a Slack message, a mail at the local SMTP server.

use std::time::Duration;

use alerting_handlers::signature;
use cucumber::{given, then};
use serde_json::json;

use super::{Alerting, PATIENCE};

impl Alerting {
    fn address(&self, address: &str) -> String {
        match address.split_once('@') {
            Some((local, domain)) => format!("{local}+{}@{domain}", self.prefix),
            None => address.to_owned(),
        }
    }
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
