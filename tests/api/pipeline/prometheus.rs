//! A real Prometheus (Debian's `prometheus`) with the alert-producer as its
//! Alertmanager: it scrapes a metric the test sets, its rule fires, and the webhook
//! gets one notification however often Prometheus sends the alert again; when the
//! metric goes back, the rule stops firing and the webhook gets the resolution.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, routing::get};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::{
    Mode, PATIENCE, Pipeline,
    tenancy::tenant,
    tools::{Tool, hooked},
};

/// A scrape target serving `disk_full <value>`.
async fn exporter(value: Arc<AtomicU8>) -> String {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(value): State<Arc<AtomicU8>>| async move {
                format!(
                    "# TYPE disk_full gauge\ndisk_full {}\n",
                    value.load(Ordering::SeqCst)
                )
            }),
        )
        .with_state(value);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address.to_string()
}

/// Prometheus, evaluating every second, sending to `alertmanager` (host:port) with
/// `key`, and sending a firing alert again every second.
struct Prometheus(Tool);

impl Prometheus {
    fn start(alertmanager: &str, key: &str, target: &str) -> Self {
        let config = format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - api_version: v2
      authorization:
        type: Bearer
        credentials: {key}
      static_configs:
        - targets: ["{alertmanager}"]
rule_files: ["rules.yml"]
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["{target}"]
"#
        );
        let rules = r#"groups:
  - name: disks
    rules:
      - alert: DiskFull
        expr: disk_full > 0
        labels:
          severity: critical
        annotations:
          summary: "disk of {{ $labels.instance }} full"
"#;
        Self(Tool::start(
            "prometheus",
            &[("prometheus.yml", &config), ("rules.yml", rules)],
            |dir, address| {
                vec![
                    format!("--config.file={}", dir.join("prometheus.yml").display()),
                    format!("--storage.tsdb.path={}", dir.join("data").display()),
                    format!("--web.listen-address={address}"),
                    "--rules.alert.resend-delay=1s".to_owned(),
                ]
            },
        ))
    }

    /// How many alerts Prometheus has sent to its Alertmanagers, from its own metrics.
    async fn sent(&self) -> u64 {
        self.0
            .counter("prometheus_notifications_sent_total", "")
            .await
    }

    /// Waits until Prometheus has sent at least `count` alerts.
    async fn await_sent(&mut self, count: u64) {
        tokio::time::timeout(PATIENCE, async {
            while self.sent().await < count {
                self.0.assert_running();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("prometheus never sent {count} alerts"));
    }
}

async fn a_prometheus_rule_fires_once_and_resolves(mode: Mode) {
    let (p, sink, key, producer) = hooked(mode).await;

    let value = Arc::new(AtomicU8::new(1));
    let target = exporter(value.clone()).await;
    let mut prometheus = Prometheus::start(&producer, &key, &target);

    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Prometheus sends the firing alert again every second: three more sends.
    let first = prometheus.sent().await;
    prometheus.await_sent(first + 3).await;
    let notified = p.settled_notifications("acme", 1).await;
    assert_eq!(notified[0]["notification_id"], id.as_str(), "{notified:#?}");
    let hooks = sink.received("hook");
    assert_eq!(hooks.len(), 1, "one delivery for every send");
    let body = hooks[0].json();
    assert_eq!(body["status"], "firing", "{body:#}");
    assert_eq!(body["alert"]["name"], "DiskFull");
    assert_eq!(body["alert"]["source"], "node");
    assert_eq!(body["alert"]["severity"], "CRITICAL");
    assert_eq!(body["alert"]["context"]["instance"], target.as_str());
    assert_eq!(
        body["alert"]["context"]["annotations.summary"],
        format!("disk of {target} full").as_str()
    );

    // The metric goes back: the rule stops firing and Prometheus sends it resolved.
    value.store(0, Ordering::SeqCst);
    let detail = p.resolution_settled(&id).await;
    assert_eq!(detail["state"], "resolved", "{detail:#}");
    assert_eq!(detail["resolution_status"], "SENT", "{detail:#}");
    let hooks = sink.received("hook");
    assert_eq!(hooks.len(), 2, "the notification, then its resolution");
    let resolution: Value = hooks[1].json();
    assert_eq!(resolution["status"], "resolved", "{resolution:#}");
    assert_eq!(
        p.settled_notifications("acme", 1).await.len(),
        1,
        "the resolved sends made no notification"
    );
}

/// A batch with one bad alert is refused whole (422, each failure by index and field),
/// nothing of it published; a key without `ingest` is refused; a good batch goes on.
async fn a_bad_prometheus_batch_is_refused_whole(mode: Mode) {
    let mut p = Pipeline::start(mode).await;
    let (_, key) = tenant(&p, "acme", false).await;
    p.wait_for_rules(1).await;
    let url = format!("{}/api/v2/alerts", p.alert_producer);
    let good = json!({"labels": {"alertname": "DiskFull", "job": "node", "severity": "warning"}});
    let (status, body) = p
        .call_as(
            Some(&key),
            reqwest::Method::POST,
            url.clone(),
            Some(json!([good, {"labels": {"job": "node"}}, {"labels": {"alertname": "X"}, "startsAt": "yesterday"}])),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<(u64, &str)> = body["error"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            (
                item["index"].as_u64().unwrap_or(99),
                item["field"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [(1, "labels.alertname"), (2, "startsAt")],
        "{body:#}"
    );
    let (status, body) = p
        .call_as(
            Some(&key),
            reqwest::Method::POST,
            url.clone(),
            Some(good.clone()),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("body")),
        "{body}"
    );
    let manage_only = p
        .api(
            reqwest::Method::POST,
            "/api/v1/clients/acme/keys",
            Some(json!({"scopes": ["manage"]})),
        )
        .await;
    let (status, body) = p
        .call_as(
            manage_only["key"].as_str(),
            reqwest::Method::POST,
            url.clone(),
            Some(json!([good.clone()])),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = p
        .call_as(Some(&key), reqwest::Method::POST, url, Some(json!([good])))
        .await;
    assert_eq!(status, 200, "{body}");
    let matched = p.matches(1).await;
    assert_eq!(matched[0].alert.name, "DiskFull");
    assert_eq!(matched[0].alert.severity, "MEDIUM");
    p.assert_no_other_matches(1).await;
}

/// A client's label mapping decides severity, source and name of what Prometheus and
/// Alertmanager send with its key, and only its: another client's same labels map by
/// the defaults.
async fn each_clients_label_mapping_applies_to_its_own_alerts(mode: Mode) {
    let mut p = Pipeline::start(mode).await;
    let (_, acme) = tenant(&p, "acme", false).await;
    let (_, beta) = tenant(&p, "beta", false).await;
    p.api(
        reqwest::Method::PATCH,
        "/api/v1/clients/acme",
        Some(json!({"label_mapping": {"severity": ["priority"], "source": ["service"]}})),
    )
    .await;
    p.wait_for_rules(2).await;
    let labels = json!({"alertname": "Latency", "priority": "P1", "severity": "info",
                        "service": "checkout", "job": "api"});
    for key in [&acme, &beta] {
        let (status, body) = p
            .call_as(
                Some(key),
                reqwest::Method::POST,
                format!("{}/api/v2/alerts", p.alert_producer),
                Some(json!([{"labels": labels}])),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = p
        .call_as(
            Some(&acme),
            reqwest::Method::POST,
            format!("{}/api/v1/integrations/alertmanager", p.alert_producer),
            Some(
                json!({"version": "4", "status": "firing", "alerts": [{"status": "firing",
                "labels": {"alertname": "Queue", "priority": "P3", "service": "billing"},
                "fingerprint": "f00d"}]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut seen: Vec<(String, String, String, String)> = p
        .matches(3)
        .await
        .into_iter()
        .map(|m| (m.client_id, m.alert.name, m.alert.severity, m.alert.source))
        .collect();
    seen.sort();
    let expected = [
        ("acme", "Latency", "CRITICAL", "checkout"),
        ("acme", "Queue", "MEDIUM", "billing"),
        ("beta", "Latency", "LOW", "api"),
    ]
    .map(|(c, n, s, o)| (c.to_owned(), n.to_owned(), s.to_owned(), o.to_owned()));
    assert_eq!(seen, expected);
    p.assert_no_other_matches(3).await;
}

on_both_modes!(
    a_prometheus_rule_fires_once_and_resolves,
    a_bad_prometheus_batch_is_refused_whole,
    each_clients_label_mapping_applies_to_its_own_alerts
);
