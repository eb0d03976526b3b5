//! Which alerts match which rules, read from `alerts.matched` in both modes: exact and
//! wildcard rules across clients, disabled and deleted rules, a rule created through
//! the API in effect within 2 seconds, and a malformed alert sent to the dead letters
//! while its neighbours match.

use std::collections::BTreeSet;

use alerting_handlers::{
    domain::{Alert, Severity},
    events::AlertEvent,
    ports::OutgoingMessage,
};
use reqwest::Method;
use serde_json::json;

use super::{MatchKey, Mode, Pipeline, keys};

fn expected(entries: &[(&str, &str, &[&String])]) -> BTreeSet<MatchKey> {
    entries
        .iter()
        .map(|(alert, client, rules)| {
            let mut rules: Vec<String> = rules.iter().map(|r| (*r).clone()).collect();
            rules.sort();
            ((*alert).to_owned(), (*client).to_owned(), rules)
        })
        .collect()
}

/// Every pipeline has a sentinel client whose rule only the sentinel alert matches.
async fn with_sentinel(mode: Mode) -> Pipeline {
    let pipeline = Pipeline::start(mode).await;
    pipeline.client("sentinel").await;
    pipeline.rule("sentinel", "CRITICAL", "sentinel", "*").await;
    pipeline
}

async fn exact_and_wildcard_rules_across_clients(mode: Mode) {
    let mut p = with_sentinel(mode).await;
    for client in ["acme", "beta", "gamma"] {
        p.client(client).await;
    }
    let r1 = p.rule("acme", "HIGH", "payments", "*").await;
    let r2 = p.rule("acme", "*", "payments", "declined").await;
    let r3 = p.rule("beta", "*", "*", "timeout").await;
    let r4 = p.rule("beta", "low", "*", "*").await;
    let r5 = p.rule("gamma", "CRITICAL", "db", "disk-full").await;
    p.api(
        Method::POST,
        "/api/v1/rules",
        Some(json!({"client_id": "gamma", "severity": "HIGH", "source": "payments", "name": "declined", "enabled": false})),
    )
    .await;
    p.wait_for_rules(6).await;

    let alert = |id: &str, severity: &str, source: &str, name: &str| json!({"alert_id": id, "severity": severity, "source": source, "name": name});
    p.send(json!([
        alert("a1", "HIGH", "payments", "declined"),
        alert("a2", "low", "payments", "declined"),
        alert("a3", "HIGH", "payments", "timeout"),
        alert("a4", "MEDIUM", "search", "timeout"),
        alert("a5", "CRITICAL", "db", "disk-full"),
        alert("a6", "CRITICAL", "db", "disk-full-2"),
        alert("a7", "MEDIUM", "Payments", "declined"),
        alert("a8", "LOW", "auth", "login"),
    ]))
    .await;
    let matches = p.matches(8).await;
    assert_eq!(
        keys(&matches),
        expected(&[
            ("a1", "acme", &[&r1, &r2]),
            ("a2", "acme", &[&r2]),
            ("a2", "beta", &[&r4]),
            ("a3", "acme", &[&r1]),
            ("a3", "beta", &[&r3]),
            ("a4", "beta", &[&r3]),
            ("a5", "gamma", &[&r5]),
            ("a8", "beta", &[&r4]),
        ])
    );
    let a1 = matches
        .iter()
        .find(|m| m.alert.alert_id == "a1")
        .expect("a1");
    assert_eq!(
        (a1.alert.severity.as_str(), a1.alert.source.as_str()),
        ("HIGH", "payments")
    );
    p.assert_no_other_matches(8).await;
}

async fn disabled_and_deleted_rules_stop_matching(mode: Mode) {
    let mut p = with_sentinel(mode).await;
    p.client("acme").await;
    let r1 = p.rule("acme", "HIGH", "payments", "*").await;
    let r2 = p.rule("acme", "LOW", "*", "*").await;
    p.wait_for_rules(3).await;
    let alerts = json!([
        {"alert_id": "before-1", "severity": "HIGH", "source": "payments", "name": "x"},
        {"alert_id": "before-2", "severity": "LOW", "source": "y", "name": "z"},
    ]);
    p.send(alerts).await;
    assert_eq!(
        keys(&p.matches(2).await),
        expected(&[("before-1", "acme", &[&r1]), ("before-2", "acme", &[&r2])])
    );

    p.api(
        Method::PATCH,
        &format!("/api/v1/rules/{r1}"),
        Some(json!({"version": 1, "enabled": false})),
    )
    .await;
    p.api(
        Method::DELETE,
        &format!("/api/v1/rules/{r2}?version=1"),
        None,
    )
    .await;
    p.wait_for_rules(1).await;
    p.send(json!([
        {"alert_id": "after-1", "severity": "HIGH", "source": "payments", "name": "x"},
        {"alert_id": "after-2", "severity": "LOW", "source": "y", "name": "z"},
    ]))
    .await;
    p.assert_no_other_matches(4).await;
}

async fn a_rule_created_through_the_api_matches_alerts_sent_2s_later(mode: Mode) {
    let mut p = with_sentinel(mode).await;
    p.client("acme").await;
    p.wait_for_rules(1).await;
    let rule = p.rule("acme", "HIGH", "payments", "*").await;
    // The promise under test: a rule change reaches the evaluator within 2 s.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let ids = p
        .send(json!({"severity": "HIGH", "source": "payments", "name": "declined"}))
        .await;
    let matches = p.matches(1).await;
    assert_eq!(keys(&matches), expected(&[(&ids[0], "acme", &[&rule])]));
}

async fn a_malformed_alert_is_a_dead_letter_and_its_neighbours_match(mode: Mode) {
    let mut p = with_sentinel(mode).await;
    p.client("acme").await;
    let rule = p.rule("acme", "*", "*", "*").await;
    p.wait_for_rules(2).await;
    let good = |id: &str| Alert {
        owner: None,
        alert_id: id.to_owned(),
        event_ts: chrono::Utc::now(),
        severity: Severity::Medium,
        source: "payments".to_owned(),
        name: "declined".to_owned(),
        context: Default::default(),
        dedup_key: None,
        status: Default::default(),
    };
    let garbage = OutgoingMessage::new("alerts.new", "bad-1", b"{not json at all".to_vec());
    let invalid = OutgoingMessage::new(
        "alerts.new",
        "bad-2",
        br#"{"schema_version": 1, "alert_id": "bad-2", "event_ts": "2026-01-01T00:00:00Z", "severity": "LOUD", "source": "s", "name": "n"}"#.to_vec(),
    );
    let bus = p
        .running
        .as_ref()
        .expect("running")
        .backends
        .bus("test")
        .expect("a bus");
    bus.publish(vec![
        AlertEvent::message(&good("good-1")),
        garbage.clone(),
        invalid.clone(),
        AlertEvent::message(&good("good-2")),
    ])
    .await
    .expect("published");

    assert_eq!(
        keys(&p.matches(2).await),
        expected(&[("good-1", "acme", &[&rule]), ("good-2", "acme", &[&rule])])
    );
    let mut letters = p.dead_letters(2).await;
    letters.sort_by_key(|d| d.key.clone());
    assert_eq!(
        letters[0].payload, garbage.payload,
        "the original bytes are kept"
    );
    assert_eq!(letters[1].payload, invalid.payload);
    assert_eq!(letters[0].header("dlq-topic"), Some("alerts.new"));
    assert!(
        letters[0]
            .header("dlq-error")
            .is_some_and(|e| e.contains("not a JSON object")),
        "{:?}",
        letters[0]
    );
    assert!(
        letters[1]
            .header("dlq-error")
            .is_some_and(|e| e.contains("severity")),
        "{:?}",
        letters[1]
    );
    p.assert_no_other_matches(4).await;
}

on_both_modes!(
    exact_and_wildcard_rules_across_clients,
    disabled_and_deleted_rules_stop_matching,
    a_rule_created_through_the_api_matches_alerts_sent_2s_later,
    a_malformed_alert_is_a_dead_letter_and_its_neighbours_match,
);
