//! The overview's pipeline counters (`process` in `GET /api/v1/overview`): the
//! process's own, read once a minute and now, shown to the admin token only (they
//! are every client's together).

use serde_json::Value;

use crate::helpers::TestApp;

fn with_history(settings: &mut alerting_handlers::http::rule_service::RuleServiceSettings) {
    let history = alerting_handlers::history::History::default();
    history.record(alerting_handlers::metrics::metrics(), chrono::Utc::now());
    settings.history = Some(std::sync::Arc::new(history));
    settings.whole_platform = true;
}

async fn the_admin_sees_the_pipelines_counters_and_a_client_key_does_not(app: TestApp) {
    let admin = app.get("/api/v1/overview").await;
    assert_eq!(admin.status, 200, "{admin:?}");
    let process = &admin.body["process"];
    assert_eq!(process["whole_platform"], true, "{admin:?}");
    assert!(process["totals"]["alerts_in"].is_u64(), "{admin:?}");
    for consumer in ["evaluator", "aggregator", "sender", "rule-updater"] {
        assert!(
            process["consumer_lag"][consumer].is_i64(),
            "{consumer}: {admin:?}"
        );
    }
    app.client("acme").await;
    let key = app.key("acme", "acme", &["manage"]).await;
    let own = app.as_token(Some(&key)).get("/api/v1/overview").await;
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(
        own.body["process"],
        Value::Null,
        "every client's counts together"
    );
}

crate::on_both_backends!(configured by super::with_history; the_admin_sees_the_pipelines_counters_and_a_client_key_does_not);
