//! Steps of `features/explain.feature`: asking what an alert would do, and what the
//! explanation says.

use cucumber::{then, when};
use serde_json::json;

use super::Alerting;

#[when(
    expr = "the admin explains the alert with severity {string}, source {string} and name {string} for {string}"
)]
async fn explain(w: &mut Alerting, severity: String, source: String, name: String, client: String) {
    let path = format!("/api/v1/clients/{}/explain", w.name(&client));
    let body = json!({"severity": severity, "source": source, "name": name});
    let explanation = w.ok(reqwest::Method::POST, &path, Some(body)).await;
    w.reply = Some((200, explanation));
}

fn explanation(w: &Alerting) -> &serde_json::Value {
    &w.reply.as_ref().expect("an explanation").1
}

#[then(expr = "the explanation says {string}")]
async fn outcome(w: &mut Alerting, expected: String) {
    let explanation = explanation(w);
    assert_eq!(explanation["outcome"], expected.as_str(), "{explanation:#}");
}

#[then(expr = "the rule {string} matched and the rule {string} did not, at its {string}")]
async fn verdicts(w: &mut Alerting, matched: String, missed: String, field: String) {
    let (matched, missed) = (w.rule(&matched), w.rule(&missed));
    let explanation = explanation(w);
    let verdict = |id: &str| {
        explanation["rules"]
            .as_array()
            .and_then(|rules| rules.iter().find(|r| r["rule_id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no verdict on {id}: {explanation:#}"))
    };
    assert_eq!(verdict(&matched)["matched"], true, "{explanation:#}");
    let missed = verdict(&missed);
    assert_eq!(missed["matched"], false, "{explanation:#}");
    assert_eq!(missed["mismatch"], field.as_str(), "{explanation:#}");
}

#[then(expr = "the explanation names {int} endpoint(s)")]
async fn endpoints(w: &mut Alerting, count: usize) {
    let explanation = explanation(w);
    assert_eq!(
        explanation["endpoints"].as_array().map(Vec::len),
        Some(count),
        "{explanation:#}"
    );
}

#[then(expr = "nothing was sent to the webhook {string}")]
async fn nothing_sent(w: &mut Alerting, webhook: String) {
    assert!(w.alert_ids_of(&webhook).is_empty());
}
