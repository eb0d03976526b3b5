//! Steps of `features/acknowledge.feature`: acknowledging a notification, and what its
//! record and the list of open notifications then say.

use cucumber::{then, when};
use serde_json::{Value, json};

use super::Alerting;

impl Alerting {
    /// The client's notification of `alert`.
    pub(super) async fn notification_of(&mut self, alert: &str, client: &str) -> Value {
        let path = format!(
            "/api/v1/notifications?client_id={}&alert_id={}",
            self.name(client),
            self.name(alert)
        );
        let page = self.ok(reqwest::Method::GET, &path, None).await;
        page["items"][0].clone()
    }

    /// A person's action on the client's notification of `alert`: `acknowledge`,
    /// `resolve`.
    pub(super) async fn act_on(&mut self, alert: &str, client: &str, action: &str) {
        let id = self.notification_of(alert, client).await["notification_id"]
            .as_str()
            .expect("a notification")
            .to_owned();
        self.ok(
            reqwest::Method::POST,
            &format!("/api/v1/notifications/{id}/{action}"),
            Some(json!({})),
        )
        .await;
    }
}

#[when(expr = "the admin acknowledges the notification of {string} for {string}")]
async fn acknowledge(w: &mut Alerting, alert: String, client: String) {
    w.act_on(&alert, &client, "acknowledge").await;
    let repeats = w.notification_of(&alert, &client).await["repeats"].clone();
    w.repeats_at_acknowledgement.insert(alert, repeats);
}

#[then(expr = "the notification of {string} for {string} is acknowledged by {string}")]
async fn acknowledged_by(w: &mut Alerting, alert: String, client: String, who: String) {
    let notification = w.notification_of(&alert, &client).await;
    assert_eq!(notification["state"], "acknowledged", "{notification:#}");
    assert_eq!(
        notification["acknowledged_by"],
        who.as_str(),
        "{notification:#}"
    );
}

#[then(expr = "{string} has {int} open notification(s)")]
async fn open_notifications(w: &mut Alerting, client: String, count: usize) {
    let path = format!(
        "/api/v1/notifications?client_id={}&state=open",
        w.name(&client)
    );
    let page = w.ok(reqwest::Method::GET, &path, None).await;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), count, "{items:#?}");
}
