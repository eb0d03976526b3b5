//! Steps of `features/retries.feature`: a webhook that answers as scripted (errors,
//! timeouts, 429 with Retry-After), the final status of a notification and the
//! attempts it took, and a retry of a failed one.

use std::{collections::BTreeSet, time::Duration};

use alerting_test_support::sinks::Answer;
use cucumber::{given, then, when};
use serde_json::Value;

use super::Alerting;

impl Alerting {
    /// The client's one notification, for `alert`, once settled; it has `status`.
    async fn settled_with_status(&mut self, alert: &str, client: &str, status: &str) -> Value {
        let items = self.settled(client, 1).await;
        assert_eq!(items[0]["alert_id"], self.name(alert).as_str());
        assert_eq!(items[0]["status"], status, "{:#}", items[0]);
        items[0].clone()
    }
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

#[then(expr = "the notification of {string} for {string} is {word}")]
async fn status_only(w: &mut Alerting, alert: String, client: String, status: String) {
    w.settled_with_status(&alert, &client, &status).await;
}
