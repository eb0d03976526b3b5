//! Steps of `features/silences.feature` and `features/maintenance_windows.feature`:
//! making and expiring silences and weekly windows, and what a silenced notification's
//! record says.

use std::time::Duration;

use chrono::{Datelike, Utc};
use cucumber::{given, then, when};
use serde_json::{Value, json};

use super::{Alerting, PATIENCE};

impl Alerting {
    /// Makes a silence of `client`'s; remembers its id as the scenario's last.
    async fn silence(&mut self, body: Value) {
        let made = self
            .ok(reqwest::Method::POST, "/api/v1/silences", Some(body))
            .await;
        self.last_silence = made["silence_id"].as_str().map(str::to_owned);
    }

    fn last_silence(&self) -> String {
        self.last_silence.clone().expect("a silence made earlier")
    }
}

#[when(expr = "the admin silences the source {string} for {string} for an hour")]
async fn silence(w: &mut Alerting, source: String, client: String) {
    let body = json!({
        "client_id": w.name(&client),
        "matchers": {"source": source},
        "ends_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "comment": "known problem",
    });
    w.silence(body).await;
}

#[when("the admin expires that silence")]
async fn expire(w: &mut Alerting) {
    let id = w.last_silence();
    w.ok(
        reqwest::Method::POST,
        &format!("/api/v1/silences/{id}/expire"),
        Some(json!({})),
    )
    .await;
}

/// A weekly window on today's (local) weekday, starting `from_now` from now, for an
/// hour.
async fn window(
    w: &mut Alerting,
    client: &str,
    source: &str,
    zone: &str,
    from_now: chrono::Duration,
) {
    let tz: chrono_tz::Tz = zone.parse().expect("a time zone");
    let start = (Utc::now() + from_now).with_timezone(&tz);
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [start.weekday().num_days_from_monday() as usize];
    let body = json!({
        "client_id": w.name(client),
        "matchers": {"source": source},
        "recurrence": {"days": [day], "start": start.format("%H:%M").to_string(), "duration": "1h", "time_zone": zone},
        "comment": "weekly maintenance",
    });
    w.silence(body).await;
}

#[given(expr = "a maintenance window for {string} on the source {string}, open now in {string}")]
async fn open_window(w: &mut Alerting, client: String, source: String, zone: String) {
    window(w, &client, &source, &zone, chrono::Duration::minutes(-1)).await;
}

#[given(
    expr = "a maintenance window for {string} on the source {string}, opening in two hours in {string}"
)]
async fn later_window(w: &mut Alerting, client: String, source: String, zone: String) {
    window(w, &client, &source, &zone, chrono::Duration::hours(2)).await;
}

/// The sender records it a moment after it is made: waits for the record.
#[then(
    regex = r#"^the notification of "([^"]*)" for "([^"]*)" is silenced by that (?:silence|window)$"#
)]
async fn silenced(w: &mut Alerting, alert: String, client: String) {
    let id = w.last_silence();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let notification = w.notification_of(&alert, &client).await;
        if notification["status"] == "SILENCED" {
            assert_eq!(notification["silenced_by"], id.as_str(), "{notification:#}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{alert} never recorded SILENCED: {notification:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
