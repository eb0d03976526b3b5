//! The answers an operation's OpenAPI description lists, beyond its own: those that
//! follow from what it reads and who may call it, documented here once for every
//! route. A route annotates only its success and what is particular to it (a 409, a
//! 503); what it writes itself wins over what is added here.

use utoipa::openapi::{
    OpenApi, RefOr, Response,
    path::{Operation, ParameterIn},
    security::SecurityRequirement,
};

use super::error::{ErrorBody, MAX_BODY_BYTES};

/// Adds to every `/api/v1` and `/api/v2` operation the bearer requirement, the answers of
/// authentication (401, 403, and 429 on writes), and those of its extractors: a JSON
/// body can be malformed (400), too large (413) or invalid (422); a path parameter can
/// name nothing the caller may see (404); query parameters can be invalid (422).
/// Called on the finished document: routes are merged into it after the derive's
/// modifiers ran.
pub fn document(api: &mut OpenApi) {
    api.components
        .get_or_insert_with(Default::default)
        .schemas
        .entry("ErrorBody".to_owned())
        .or_insert_with(<ErrorBody as utoipa::PartialSchema>::schema);
    for (path, item) in api.paths.paths.iter_mut() {
        // `/api/v2` is Alertmanager's ingest API, which Prometheus calls like ours.
        let ours = path.starts_with("/api/v1/") || path.starts_with("/api/v2/");
        if !ours || path == "/api/v1/openapi.json" {
            continue;
        }
        for (writes, operation) in [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (true, &mut item.patch),
        ] {
            if let Some(operation) = operation {
                authentication(operation, writes);
                inputs(operation);
            }
        }
    }
}

fn authentication(operation: &mut Operation, writes: bool) {
    operation.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    add(
        operation,
        "401",
        "No bearer token, or one that is unknown or revoked",
    );
    add(
        operation,
        "403",
        "The token may not do this (a client key on an admin route, or without the scope)",
    );
    if writes {
        add(
            operation,
            "429",
            "Over the key's rate of writes (WRITE_RATE_LIMIT); see Retry-After",
        );
    }
}

fn inputs(operation: &mut Operation) {
    let (mut named, mut queried) = (Vec::new(), false);
    for parameter in operation.parameters.iter().flatten() {
        if let RefOr::T(parameter) = parameter {
            match parameter.parameter_in {
                ParameterIn::Path => named.push(parameter.name.trim_end_matches("_id").to_owned()),
                ParameterIn::Query => queried = true,
                _ => {}
            }
        }
    }
    if operation.request_body.is_some() {
        add(operation, "400", "Malformed JSON");
        let too_large = format!("Body over {} MiB", MAX_BODY_BYTES / (1024 * 1024));
        add(operation, "413", &too_large);
        add(operation, "422", "A field failed validation");
    } else if queried {
        add(operation, "422", "A parameter failed validation");
    }
    if !named.is_empty() {
        let unknown = format!("Unknown {}, or not this key's to see", named.join(" or "));
        add(operation, "404", &unknown);
    }
}

/// Documents `status` unless the route documented it itself.
fn add(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(json_answer(description, "ErrorBody")));
}

/// One documented answer: `description`, with a JSON body of the schema `schema`.
pub(crate) fn json_answer(description: &str, schema: &str) -> Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}
