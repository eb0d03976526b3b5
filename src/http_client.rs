//! Outgoing HTTP clients. TLS is rustls with the ring provider (already built for the
//! database driver), installed once for the process before any client is made.

use std::sync::Once;

static CRYPTO: Once = Once::new();

/// Installs the process's TLS crypto provider (idempotent).
pub fn install_crypto() {
    CRYPTO.call_once(|| {
        // Err only means another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub fn builder() -> reqwest::ClientBuilder {
    install_crypto();
    reqwest::Client::builder()
}

/// The delay a `Retry-After: <seconds>` header asks for, if any.
pub fn retry_after(response: &reqwest::Response) -> Option<std::time::Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(std::time::Duration::from_secs)
}

/// Why an answer asks for the same request later, if it does: a 429, or a 503 with
/// Retry-After (the alert-producer's back-pressure; a 503 without it is a failure).
pub fn held_back(response: &reqwest::Response) -> Option<&'static str> {
    match response.status() {
        reqwest::StatusCode::TOO_MANY_REQUESTS => Some("rate limited"),
        reqwest::StatusCode::SERVICE_UNAVAILABLE
            if response
                .headers()
                .contains_key(reqwest::header::RETRY_AFTER) =>
        {
            Some("asked to wait (503)")
        }
        _ => None,
    }
}

/// A client with default settings.
pub fn client() -> reqwest::Client {
    builder().build().unwrap_or_else(|_| reqwest::Client::new())
}
