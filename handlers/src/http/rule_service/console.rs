//! The web console: one page (`/`) and its script and stylesheet, built into the
//! binary (no Node.js, no network to build or run it). The page calls the same REST API
//! as every client, with the token the person signs in with, so every rule of the API
//! (validation, versions, tenant isolation, scopes) holds in it as it is.
//!
//! Served with a strict Content-Security-Policy (scripts and styles from this origin
//! only, no inline script, no framing, no other origin to talk to) and the headers a
//! browser needs to treat it as such.

use axum::{
    Router,
    extract::Path,
    http::{HeaderName, HeaderValue, header},
    response::IntoResponse,
    routing::get,
};

use crate::http::ApiError;

const PAGE: &str = include_str!("../../../console/index.html");

/// The script's modules and the stylesheet, by their name under `/console/`.
const ASSETS: [(&str, &str, &str); 9] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../console/app.css"),
    ),
    ("app.js", SCRIPT, include_str!("../../../console/app.js")),
    ("lib.js", SCRIPT, include_str!("../../../console/lib.js")),
    (
        "notifications.js",
        SCRIPT,
        include_str!("../../../console/notifications.js"),
    ),
    (
        "rules.js",
        SCRIPT,
        include_str!("../../../console/rules.js"),
    ),
    (
        "silences.js",
        SCRIPT,
        include_str!("../../../console/silences.js"),
    ),
    (
        "clients.js",
        SCRIPT,
        include_str!("../../../console/clients.js"),
    ),
    (
        "overview.js",
        SCRIPT,
        include_str!("../../../console/overview.js"),
    ),
    ("index.html", "text/html; charset=utf-8", PAGE),
];
const SCRIPT: &str = "text/javascript; charset=utf-8";

/// What the console's answers carry.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn headers(content_type: &'static str) -> [(HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // Small and versioned with the binary: revalidated on every load.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

/// The console's routes, for the rule-service's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { (headers("text/html; charset=utf-8"), PAGE).into_response() }),
        )
        .route("/console/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> axum::response::Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (headers(content_type), *body).into_response(),
        None => ApiError::RouteNotFound(format!("GET /console/{file}")).into_response(),
    }
}
