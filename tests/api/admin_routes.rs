//! An admin-only route answers a client key 403 before it looks at the body, and says
//! what needs the admin token.

use alerting_handlers::http::alert_producer::AlertProducerSettings;
use alerting_test_support::ADMIN_TOKEN;
use reqwest::Method;
use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_alert_producer},
    on_both_backends,
};

/// A key of a new client "acme" with every scope a client key can have.
async fn client_key(app: &TestApp) -> String {
    app.client("acme").await;
    let reply = app
        .post(
            "/api/v1/clients/acme/keys",
            json!({"name": "k", "scopes": ["manage", "ingest"]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.str("key")
}

/// Bodies each of which the admin would get a 400 or a 422 for.
const BAD_BODIES: [&str; 3] = ["{", r#"{"count": -1}"#, r#"{"rate": 10}"#];

async fn load_generation_is_refused_to_a_key_before_its_body_is_judged(app: TestApp) {
    let key = client_key(&app).await;
    let producer = spawn_alert_producer(AlertProducerSettings {
        admin_token: ADMIN_TOKEN.to_owned(),
        keys: Some(app.db.clone()),
        ingest_rate_limit: 0,
        sns: None,
        backpressure: None,
    })
    .await;
    let http = alerting::http_client::client();
    let generate = format!("{producer}/api/v1/alerts/generate");
    for body in BAD_BODIES {
        let send = |token: &str| {
            http.post(&generate)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let refused = TestApp::reply(send(&key).await.expect("sent")).await;
        assert_eq!(refused.status, 403, "{body}: {refused:?}");
        let message = refused.body["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(message, "starting load generation needs the admin token");
        let judged = TestApp::reply(send(ADMIN_TOKEN).await.expect("sent")).await;
        assert!(
            [400, 422].contains(&judged.status),
            "the admin's body is judged: {body}: {judged:?}"
        );
    }
    let job = format!("{generate}/00000000-0000-0000-0000-000000000000");
    for (method, says) in [
        (
            Method::GET,
            "load generation jobs are read with the admin token",
        ),
        (
            Method::DELETE,
            "cancelling load generation needs the admin token",
        ),
    ] {
        let refused = http.request(method.clone(), &job).bearer_auth(&key).send();
        let refused = TestApp::reply(refused.await.expect("sent")).await;
        assert_eq!(refused.status, 403, "{method}: {refused:?}");
        assert_eq!(refused.body["error"]["message"], says);
        let unknown = http.request(method.clone(), &job).bearer_auth(ADMIN_TOKEN);
        assert_eq!(
            unknown.send().await.expect("sent").status(),
            404,
            "{method}"
        );
    }
}

async fn creating_a_client_is_refused_to_a_key_before_its_body_is_judged(app: TestApp) {
    let key = client_key(&app).await;
    let acme = app.as_token(Some(&key));
    for body in [
        json!({"client_id": "no spaces allowed"}),
        json!({"bogus": 1}),
    ] {
        let refused = acme.post("/api/v1/clients", body.clone()).await;
        assert_eq!(
            (refused.status, refused.code()),
            (403, "forbidden"),
            "{body}: {refused:?}"
        );
        let judged = app.post("/api/v1/clients", body.clone()).await;
        assert_eq!(
            judged.status, 422,
            "the admin's body is judged: {body}: {judged:?}"
        );
    }
}

async fn making_a_key_is_refused_to_a_key_before_its_body_is_judged(app: TestApp) {
    let key = client_key(&app).await;
    let acme = app.as_token(Some(&key));
    for body in [json!({"scopes": ["root"]}), json!({"bogus": 1})] {
        let refused = acme.post("/api/v1/clients/acme/keys", body.clone()).await;
        assert_eq!(
            (refused.status, refused.code()),
            (403, "forbidden"),
            "{body}: {refused:?}"
        );
        let judged = app.post("/api/v1/clients/acme/keys", body.clone()).await;
        assert_eq!(
            judged.status, 422,
            "the admin's body is judged: {body}: {judged:?}"
        );
    }
}

on_both_backends!(
    load_generation_is_refused_to_a_key_before_its_body_is_judged,
    creating_a_client_is_refused_to_a_key_before_its_body_is_judged,
    making_a_key_is_refused_to_a_key_before_its_body_is_judged,
);
