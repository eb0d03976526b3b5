//! Grafana's webhook contact point (`POST /api/v1/integrations/grafana`), with the body
//! Grafana's documentation gives: firing makes one notification however often Grafana
//! sends it, resolved delivers the resolution, and a malformed body is refused naming
//! the field, nothing of it stored.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Mode, tools::hooked};

/// Grafana's documented webhook body, its one alert in `status`.
fn grafana(status: &str, ends_at: &str) -> Value {
    json!({
        "receiver": "My Super Webhook",
        "status": status,
        "orgId": 1,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {"summary": "This alert was triggered for zone us-1"},
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": ends_at,
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana",
            "dashboardURL": "", "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.2 ], [ var='C' labels={} value=1 ]"
        }],
        "groupLabels": {"alertname": "High memory usage"},
        "commonLabels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
        "commonAnnotations": {},
        "externalURL": "https://play.grafana.org/",
        "version": "1",
        "groupKey": "{}:{alertname=\"High memory usage\"}",
        "truncatedAlerts": 0,
        "title": format!("[{}:1] High memory usage (blue us-1)", status.to_uppercase()),
        "state": if status == "firing" { "alerting" } else { "ok" },
        "message": "**Firing**"
    })
}

async fn grafana_alerts_fire_once_and_resolve(mode: Mode) {
    let (p, sink, key, _) = hooked(mode).await;
    let url = format!("{}/api/v1/integrations/grafana", p.alert_producer);
    let post = |body: Value| p.call_as(Some(&key), Method::POST, url.clone(), Some(body));

    let mut malformed = grafana("firing", "0001-01-01T00:00:00Z");
    malformed["alerts"][0]["startsAt"] = json!("yesterday");
    let (status, body) = post(malformed).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["items"][0]["field"], "alerts.startsAt",
        "{body}"
    );
    let (status, body) = post(json!({"receiver": "x", "status": "firing"})).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (422, &json!("alerts")),
        "{body}"
    );

    for _ in 0..2 {
        let (status, body) = post(grafana("firing", "0001-01-01T00:00:00Z")).await;
        assert_eq!(status, 200, "{body}");
    }
    let notified = p.settled_notifications("acme", 1).await;
    let id = notified[0]["notification_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, body) = post(grafana("resolved", "2021-10-12T10:01:03+02:00")).await;
    assert_eq!(status, 200, "{body}");
    let detail = p.resolution_settled(&id).await;
    assert_eq!(
        (&detail["state"], &detail["resolution_status"]),
        (&json!("resolved"), &json!("SENT")),
        "{detail:#}"
    );
    let hooks: Vec<Value> = sink.received("hook").iter().map(|h| h.json()).collect();
    assert_eq!(
        hooks.len(),
        2,
        "the notification and its resolution: {hooks:#?}"
    );
    assert_eq!(hooks[0]["alert"]["name"], "High memory usage");
    assert_eq!(hooks[0]["alert"]["source"], "grafana");
    assert_eq!(hooks[1]["status"], "resolved");
    assert_eq!(p.settled_notifications("acme", 1).await.len(), 1);
}

on_both_modes!(grafana_alerts_fire_once_and_resolve);
