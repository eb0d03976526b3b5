//! A real Alertmanager (Debian's `prometheus-alertmanager`) whose webhook receiver
//! points at `POST /api/v1/integrations/alertmanager`, fed through its own API: two
//! firing alerts make two notifications, delivered once each however often
//! Alertmanager sends their group; resolving them through its API delivers both
//! resolutions.

use std::time::Duration;

use super::{
    Mode, PATIENCE,
    tools::{Tool, hooked},
};
use serde_json::{Value, json};

/// Alertmanager, grouping by `alertname`, flushing a group every second, sending it to
/// the alert-producer at `producer` (host:port) with `key`.
struct Alertmanager(Tool);

impl Alertmanager {
    async fn start(producer: &str, key: &str) -> Self {
        let config = format!(
            r#"route:
  receiver: alerting
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: alerting
    webhook_configs:
      - url: "http://{producer}/api/v1/integrations/alertmanager"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: "{key}"
"#
        );
        let alertmanager = Self(Tool::start(
            "prometheus-alertmanager",
            &[("alertmanager.yml", &config)],
            |dir, address| {
                vec![
                    format!("--config.file={}", dir.join("alertmanager.yml").display()),
                    format!("--storage.path={}", dir.join("data").display()),
                    format!("--web.listen-address={address}"),
                    // Alone: no cluster port.
                    "--cluster.listen-address=".to_owned(),
                ]
            },
        ));
        alertmanager.await_ready().await;
        alertmanager
    }

    async fn await_ready(&self) {
        let url = format!("http://{}/-/ready", self.0.address);
        tokio::time::timeout(PATIENCE, async {
            loop {
                if let Ok(response) = reqwest::get(&url).await
                    && response.status().is_success()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("alertmanager ready");
    }

    /// How many webhook notifications Alertmanager has sent, from its own metrics.
    async fn sent(&self) -> u64 {
        self.0
            .counter(
                "alertmanager_notifications_total",
                r#"integration="webhook""#,
            )
            .await
    }

    /// Posts alerts to Alertmanager's own API.
    async fn post(&mut self, alerts: Value) {
        self.0.assert_running();
        let response = reqwest::Client::new()
            .post(format!("http://{}/api/v2/alerts", self.0.address))
            .json(&alerts)
            .send()
            .await
            .expect("alertmanager answers");
        assert!(response.status().is_success(), "{response:?}");
    }
}

fn disk_full(instance: &str, starts_at: &str, ends_at: Option<&str>) -> Value {
    let mut alert = json!({
        "labels": {"alertname": "DiskFull", "job": "node", "severity": "critical", "instance": instance},
        "annotations": {"summary": format!("disk of {instance} full")},
        "startsAt": starts_at,
    });
    if let Some(ends_at) = ends_at {
        alert["endsAt"] = json!(ends_at);
    }
    alert
}

async fn alertmanager_groups_fire_once_per_alert_and_resolve(mode: Mode) {
    let (p, sink, key, producer) = hooked(mode).await;
    let mut alertmanager = Alertmanager::start(&producer, &key).await;

    let started = chrono::Utc::now().to_rfc3339();
    alertmanager
        .post(json!([
            disk_full("db1", &started, None),
            disk_full("db2", &started, None)
        ]))
        .await;
    p.settled_notifications("acme", 2).await;
    let hooks = sink.received("hook");
    assert_eq!(hooks.len(), 2, "one delivery per alert");
    let notification_of = |instance: &str| -> String {
        hooks
            .iter()
            .map(|hook| hook.json())
            .find(|body| body["alert"]["context"]["instance"] == instance)
            .and_then(|body| body["notification_id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no delivery for {instance}"))
    };
    let (db1, db2) = (notification_of("db1"), notification_of("db2"));
    assert!(
        hooks
            .iter()
            .all(|hook| hook.json()["alert"]["name"] == "DiskFull")
    );

    // db2 resolved through Alertmanager's API: the group goes out again, db1 still
    // firing in it (the same alert: no new notification, no delivery).
    let ended = chrono::Utc::now().to_rfc3339();
    alertmanager
        .post(json!([disk_full("db2", &started, Some(&ended))]))
        .await;
    let detail = p.resolution_settled(&db2).await;
    assert_eq!(
        (&detail["state"], &detail["resolution_status"]),
        (&json!("resolved"), &json!("SENT")),
        "{detail:#}"
    );
    assert_eq!(p.settled_notifications("acme", 2).await.len(), 2);
    assert_eq!(p.notification(&db1).await["state"], "open");

    alertmanager
        .post(json!([disk_full("db1", &started, Some(&ended))]))
        .await;
    let detail = p.resolution_settled(&db1).await;
    assert_eq!(detail["state"], "resolved", "{detail:#}");
    let bodies: Vec<Value> = sink
        .received("hook")
        .iter()
        .map(|hook| hook.json())
        .collect();
    let statuses: Vec<(&str, &str)> = bodies
        .iter()
        .map(|body| {
            (
                body["alert"]["context"]["instance"]
                    .as_str()
                    .unwrap_or_default(),
                body["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        statuses.len(),
        4,
        "two notifications, two resolutions: {statuses:?}"
    );
    assert!(
        statuses[2..].contains(&("db2", "resolved"))
            && statuses[2..].contains(&("db1", "resolved"))
    );
    assert_eq!(p.settled_notifications("acme", 2).await.len(), 2);
    // The group went out three times, db1 firing in the first two.
    assert!(
        alertmanager.sent().await >= 3,
        "{}",
        alertmanager.sent().await
    );
}

on_both_modes!(alertmanager_groups_fire_once_per_alert_and_resolve);
