//! What the root package's two test binaries share, `api` (tests/api/) and
//! `acceptance` (tests/acceptance/): fresh test databases, the admin token and a client
//! that sends it, the `alerting` binary run as a process, loopback receivers for what
//! the platform delivers, servers with certificates from a CA the test makes
//! (Postgres, Redis, Kafka, HTTPS), and Amazon SNS as a test plays it. A crate rather than files included into both binaries,
//! so each binary uses what it needs and nothing is compiled as dead code.
//!
//! What only the API tests use (the in-process rule-service, the pipeline harness)
//! stays in tests/api/.

pub mod database;
pub mod process;
pub mod secure_servers;
pub mod sinks;
pub mod sns;
pub mod tls;

/// The admin token of every platform the tests start.
pub const ADMIN_TOKEN: &str = "alerting_admin_test_0123456789abcdef0123456789abcdef";

/// An HTTP client that sends the test admin token with every request.
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {ADMIN_TOKEN}"))
            .expect("a header value"),
    );
    alerting::http_client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}
