//! The OpenAPI document is generated from the handlers; these tests hold it to the
//! router: every documented operation is routed and documents what it answers, and
//! the contract's routes are all in it.

use reqwest::Method;

use crate::helpers::TestApp;

async fn the_document_lists_every_route_and_each_is_served(app: TestApp) {
    let reply = app.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, 200);
    let spec = reply.body;
    assert!(
        spec["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{}",
        spec["openapi"]
    );
    let paths = spec["paths"].as_object().expect("paths");

    let contract = [
        ("/api/v1/clients", "post"),
        ("/api/v1/clients", "get"),
        ("/api/v1/clients/{client_id}", "get"),
        ("/api/v1/clients/{client_id}", "patch"),
        ("/api/v1/clients/{client_id}", "delete"),
        ("/api/v1/rules", "post"),
        ("/api/v1/rules", "get"),
        ("/api/v1/rules/{rule_id}", "get"),
        ("/api/v1/rules/{rule_id}", "put"),
        ("/api/v1/rules/{rule_id}", "patch"),
        ("/api/v1/rules/{rule_id}", "delete"),
        ("/api/v1/rules/{rule_id}/endpoints", "post"),
        ("/api/v1/rules/{rule_id}/endpoints", "get"),
        ("/api/v1/endpoints/{endpoint_id}", "get"),
        ("/api/v1/endpoints/{endpoint_id}", "patch"),
        ("/api/v1/endpoints/{endpoint_id}", "delete"),
        ("/api/v1/notifications", "get"),
        ("/api/v1/notifications/{notification_id}", "get"),
        ("/health", "get"),
        ("/ready", "get"),
    ];
    for (path, method) in contract {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }

    // Every documented operation reaches a handler: none falls through to the
    // router's "no route" or "method not allowed" answers.
    for (path, operations) in paths {
        let concrete = path
            .replace("{client_id}", "some-client")
            .replace("{rule_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{endpoint_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{notification_id}", &uuid::Uuid::new_v4().to_string());
        for (method, operation) in operations.as_object().expect("operations") {
            let method: Method = method.to_uppercase().parse().expect("an HTTP method");
            let reply = app
                .send_raw(method.clone(), &concrete, Some("application/json"), "{}")
                .await;
            let message = reply.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("no route") && reply.status != 405,
                "{method} {path} is documented but not routed: {reply:?}"
            );
            // Every answer says what it means (OpenAPI requires it; generators
            // refuse a document without).
            for (status, response) in operation["responses"].as_object().expect("responses") {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
            // What it answered (an unknown id's 404, an empty body's 422) is among
            // the answers its description lists.
            assert!(
                operation["responses"]
                    .get(reply.status.to_string())
                    .is_some(),
                "{method} {path} answered {} but does not document it: {reply:?}",
                reply.status
            );
        }
    }

    // Every reference names a schema the document holds: a generator (and schemathesis)
    // cannot follow one that does not.
    let mut references = Vec::new();
    collect_references(&spec, &mut references);
    assert!(!references.is_empty(), "the document uses references");
    for reference in references {
        let found = reference
            .strip_prefix("#/")
            .map(|pointer| format!("/{pointer}"))
            .and_then(|pointer| spec.pointer(&pointer));
        assert!(found.is_some(), "{reference} resolves in the document");
    }

    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for schema in ["Client", "Rule", "Endpoint", "Notification", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "{schema} is described");
    }
    let rule = &schemas["Rule"]["properties"];
    for field in [
        "rule_id",
        "client_id",
        "severity",
        "source",
        "name",
        "enabled",
        "version",
    ] {
        assert!(rule.get(field).is_some(), "Rule.{field} is described");
    }
    assert!(
        schemas["Endpoint"]["properties"].get("secret").is_none(),
        "the secret is write-only"
    );
}

crate::on_both_backends!(the_document_lists_every_route_and_each_is_served);

/// Every `$ref` anywhere in `value`.
fn collect_references(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, field) in fields {
                match (name.as_str(), field.as_str()) {
                    ("$ref", Some(reference)) => into.push(reference.to_owned()),
                    _ => collect_references(field, into),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| collect_references(item, into))
        }
        _ => {}
    }
}
