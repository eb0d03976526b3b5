//! Explain, on both backends: for one alert and one client, each rule matched or not
//! and the first field that did not; the silences that would apply; the open
//! notification it would fold into or resolve; the endpoints it would reach. Nothing
//! is stored or sent.

use alerting_entities::notifications;
use alerting_handlers::jobs::{aggregate::aggregate, timings::Timings};
use chrono::{Duration, Utc};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, matched},
    on_both_backends,
};

async fn explained(app: &TestApp, alert: Value) -> Value {
    let reply = app.post("/api/v1/clients/acme/explain", alert).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

fn verdicts(explanation: &Value) -> Vec<(String, bool, Value)> {
    explanation["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap_or_default().to_owned(),
                r["matched"].as_bool().unwrap_or_default(),
                r["mismatch"].clone(),
            )
        })
        .collect()
}

async fn an_alert_is_explained_without_being_sent(app: TestApp) {
    app.client("acme").await;
    let id = |rule: &Value| rule["rule_id"].as_str().unwrap_or_default().to_owned();
    let db_high = id(&app.rule("acme", "HIGH", "db", "*").await);
    let web = id(&app.rule("acme", "*", "web", "*").await);
    let off = app.rule("acme", "*", "*", "*").await;
    let reply = app
        .patch(
            &format!("/api/v1/rules/{}", id(&off)),
            json!({"version": off["version"], "enabled": false}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let critical = id(&app.rule("acme", "CRITICAL", "db", "*").await);
    let hook = app
        .endpoint(&db_high, "webhook", "https://hooks.example.com/a")
        .await;
    app.endpoint(&db_high, "email", "oncall@example.com").await;
    let disk =
        json!({"severity": "HIGH", "source": "db", "name": "disk full", "dedup_key": "db1/disk"});

    let fresh = explained(&app, disk.clone()).await;
    assert_eq!(fresh["outcome"], "new notification", "{fresh:#}");
    assert_eq!(
        verdicts(&fresh),
        [
            (db_high.clone(), true, Value::Null),
            (web, false, json!("source")),
            (id(&off), false, json!("enabled")),
            (critical, false, json!("severity")),
        ]
    );
    assert_eq!(fresh["endpoints"].as_array().map(Vec::len), Some(2));
    assert_eq!(fresh["endpoints"][0]["endpoint_id"], hook["endpoint_id"]);

    let silence = app
        .post(
            "/api/v1/silences",
            json!({"client_id": "acme", "matchers": {"source": "db"}, "ends_at": (Utc::now() + Duration::hours(1)).to_rfc3339(), "comment": "migration"}),
        )
        .await;
    let silenced = explained(&app, disk.clone()).await;
    assert_eq!(silenced["outcome"], "silenced", "{silenced:#}");
    assert_eq!(
        silenced["silences"][0]["silence_id"],
        silence.body["silence_id"]
    );
    assert_eq!(silenced["silences"][0]["comment"], "migration");
    assert_eq!(silenced["endpoints"], json!([]));
    app.post(
        &format!("/api/v1/silences/{}/expire", silence.str("silence_id")),
        json!({}),
    )
    .await;

    let mut opener = matched("acme", "a1", Some("db1/disk"));
    opener.alert.owner = Some("acme".to_owned());
    aggregate(&app.db, &[opener], &Timings::default())
        .await
        .expect("stored");
    let open = notifications::Entity::find()
        .one(&app.db)
        .await
        .expect("row")
        .expect("one");
    let folds = explained(&app, disk.clone()).await;
    assert_eq!(
        folds["outcome"], "folds into the open notification",
        "{folds:#}"
    );
    assert_eq!(folds["open_notification"], open.id.to_string());
    let mut resolve = disk.clone();
    resolve["status"] = json!("resolved");
    assert_eq!(
        explained(&app, resolve.clone()).await["outcome"],
        "resolves the open notification"
    );
    resolve["dedup_key"] = json!("db2/disk");
    assert_eq!(
        explained(&app, resolve).await["outcome"],
        "nothing open to resolve"
    );
    let search = explained(
        &app,
        json!({"severity": "LOW", "source": "search", "name": "slow"}),
    )
    .await;
    assert_eq!(search["outcome"], "no rule matches");

    assert_eq!(
        notifications::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        1,
        "explaining stores nothing"
    );
}

async fn explain_keeps_to_its_client_and_names_bad_fields(app: TestApp) {
    app.client("acme").await;
    app.client("globex").await;
    let alert = json!({"severity": "HIGH", "source": "db", "name": "down"});
    let other = app
        .post(
            "/api/v1/clients/globex/keys",
            json!({"name": "g", "scopes": ["manage"]}),
        )
        .await
        .str("key");
    let ingest = app
        .post(
            "/api/v1/clients/acme/keys",
            json!({"name": "i", "scopes": ["ingest"]}),
        )
        .await
        .str("key");
    let hidden = app
        .as_token(Some(&other))
        .post("/api/v1/clients/acme/explain", alert.clone())
        .await;
    assert_eq!(hidden.status, 404, "{hidden:?}");
    let refused = app
        .as_token(Some(&ingest))
        .post("/api/v1/clients/acme/explain", alert)
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let bad = app
        .post(
            "/api/v1/clients/acme/explain",
            json!({"severity": "LOUD", "source": "db", "name": "down"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(bad.body.to_string().contains("severity"), "{bad:?}");
    let missing = app
        .post(
            "/api/v1/clients/nobody/explain",
            json!({"severity": "HIGH", "source": "db", "name": "down"}),
        )
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
}

on_both_backends!(
    an_alert_is_explained_without_being_sent,
    explain_keeps_to_its_client_and_names_bad_fields,
);
