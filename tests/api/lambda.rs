//! The rule-service router runs in Lambda unchanged: an ALB event goes in through
//! lambda_http's own adapter (what `lambda_http::run` uses) and an ALB response comes out.

use lambda_http::{Adapter, Context, LambdaEvent, Service, request::LambdaRequest};
use serde_json::json;

use crate::helpers::TestApp;

fn alb_event(method: &str, path: &str, body: Option<&str>) -> LambdaRequest {
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/rule-service/abc"}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {},
        "headers": {
            "content-type": "application/json",
            "host": "alerting.example.com",
            "authorization": format!("Bearer {}", alerting_test_support::ADMIN_TOKEN)
        },
        "isBase64Encoded": false,
        "body": body
    });
    serde_json::from_value(event).expect("a valid ALB event")
}

async fn invoke(app: &TestApp, event: LambdaRequest) -> serde_json::Value {
    let router = alerting_handlers::http::rule_service::router(
        app.db.clone(),
        alerting_handlers::http::rule_service::RuleServiceSettings::local(
            alerting_test_support::ADMIN_TOKEN,
        ),
    );
    let mut adapter = Adapter::from(router);
    let response = adapter
        .call(LambdaEvent::new(event, Context::default()))
        .await
        .expect("the router never fails");
    serde_json::to_value(response).expect("serialisable response")
}

fn body_json(response: &serde_json::Value) -> serde_json::Value {
    let body = response["body"].as_str().unwrap_or_default();
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

async fn an_alb_request_drives_the_router(app: TestApp) {
    let created = invoke(
        &app,
        alb_event(
            "POST",
            "/api/v1/clients",
            Some(r#"{"client_id": "lambda-client"}"#),
        ),
    )
    .await;
    assert_eq!(created["statusCode"], 201, "{created}");
    assert_eq!(body_json(&created)["client_id"], "lambda-client");
    assert_eq!(
        created["headers"]["location"],
        "/api/v1/clients/lambda-client"
    );

    let invalid = invoke(
        &app,
        alb_event(
            "POST",
            "/api/v1/rules",
            Some(r#"{"client_id": "lambda-client"}"#),
        ),
    )
    .await;
    assert_eq!(invalid["statusCode"], 422, "{invalid}");
    assert_eq!(body_json(&invalid)["error"]["code"], "validation_failed");

    let listed = invoke(&app, alb_event("GET", "/api/v1/clients", None)).await;
    assert_eq!(listed["statusCode"], 200);
    assert_eq!(body_json(&listed)["total"], 1);

    // What Lambda wrote is what the HTTP server reads: one router, one database.
    assert_eq!(app.get("/api/v1/clients/lambda-client").await.status, 200);
}

crate::on_both_backends!(an_alb_request_drives_the_router);
