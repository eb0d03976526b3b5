//! `alerting sink`: a local webhook receiver that prints every delivery, for trying the
//! platform out and for checking an endpoint's secret. With a secret it does what a
//! receiver should: it answers 401 to a delivery that is unsigned, wrongly signed, or
//! signed more than five minutes away from now (a captured delivery replayed later),
//! and 200 to the rest.

use std::net::SocketAddr;

use alerting_handlers::signature::{
    IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify,
};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    routing::post,
};
use clap::Args;

use crate::runners::{self, shutdown::Shutdown};

/// How far a signed delivery's timestamp may be from now, either way: more than the
/// sender's clock is ever off, less than the time a replay takes to matter.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "alerting sink")]
pub struct SinkArgs {
    /// Where to listen.
    #[arg(long, env = "SINK_ADDR", default_value = "127.0.0.1:9000")]
    pub addr: SocketAddr,
    /// The endpoint's secret, to check signatures (and refuse unsigned deliveries).
    #[arg(long, env = "SINK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Why a delivery is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("unsigned, and this sink has a secret")]
    Unsigned,
    #[error("no {TIMESTAMP_HEADER} in Unix seconds")]
    NoTimestamp,
    #[error("signed {0} s from now, more than {TIMESTAMP_TOLERANCE_SECS} s: a replay?")]
    OutOfTime(i64),
    #[error("SIGNATURE INVALID")]
    BadSignature,
}

/// What the sink makes of a delivery at `now` (Unix seconds): how to describe it, or
/// why it is refused.
pub fn judge(
    secret: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<&'static str, Refused> {
    let signed = headers.get(SIGNATURE_HEADER).is_some();
    let Some(secret) = secret else {
        return Ok(if signed {
            "signed (no --secret to check it)"
        } else {
            "unsigned"
        });
    };
    if !signed {
        return Err(Refused::Unsigned);
    }
    let timestamp: i64 = header(headers, TIMESTAMP_HEADER)
        .parse()
        .map_err(|_| Refused::NoTimestamp)?;
    let offset = timestamp.saturating_sub(now);
    if offset.saturating_abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(Refused::OutOfTime(offset));
    }
    // Checked last: an old timestamp with a valid signature is exactly a replay.
    if !verify(secret, timestamp, body, header(headers, SIGNATURE_HEADER)) {
        return Err(Refused::BadSignature);
    }
    Ok("signature ok")
}

async fn receive(
    State(secret): State<Option<String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let verdict = judge(
        secret.as_deref(),
        &headers,
        &body,
        chrono::Utc::now().timestamp(),
    );
    let key = header(&headers, IDEMPOTENCY_HEADER);
    match verdict {
        Ok(signature) => {
            let pretty = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| serde_json::to_string_pretty(&value).ok())
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            println!(
                "POST {} {IDEMPOTENCY_HEADER}={key} {signature}\n{pretty}",
                uri.path()
            );
            (StatusCode::OK, String::new())
        }
        Err(refused) => {
            println!(
                "POST {} {IDEMPOTENCY_HEADER}={key} refused with 401: {refused}",
                uri.path()
            );
            (StatusCode::UNAUTHORIZED, format!("{refused}\n"))
        }
    }
}

/// The sink's routes: every POST, whatever its path.
pub fn router(secret: Option<String>) -> Router {
    Router::new()
        .route("/", post(receive))
        .route("/{*path}", post(receive))
        .with_state(secret)
}

pub async fn run(args: SinkArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {} (SINK_ADDR): {err}", args.addr))?;
    let address = listener.local_addr()?;
    println!("sink listening on http://{address}; Ctrl-C to stop");
    runners::http::serve(listener, router(args.secret), shutdown.wait()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use alerting_handlers::signature::sign;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    const SECRET: &str = "sink-test-secret-0123456789";
    const BODY: &[u8] = br#"{"notification_id": "n"}"#;

    fn signed(timestamp: i64, secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, timestamp.into());
        headers.insert(
            SIGNATURE_HEADER,
            sign(secret, timestamp, BODY)
                .parse()
                .expect("a header value"),
        );
        headers
    }

    #[test]
    fn a_signature_counts_only_within_five_minutes_of_now() {
        let now = 1_700_000_000;
        let judge = |headers: &HeaderMap| judge(Some(SECRET), headers, BODY, now);
        assert_eq!(judge(&signed(now, SECRET)), Ok("signature ok"));
        assert_eq!(judge(&signed(now - 300, SECRET)), Ok("signature ok"));
        assert_eq!(judge(&signed(now + 300, SECRET)), Ok("signature ok"));
        assert_eq!(
            judge(&signed(now - 301, SECRET)),
            Err(Refused::OutOfTime(-301))
        );
        assert_eq!(
            judge(&signed(now + 301, SECRET)),
            Err(Refused::OutOfTime(301))
        );
        assert_eq!(
            judge(&signed(now, "another-secret-0123456789")),
            Err(Refused::BadSignature)
        );
        let mut no_time = signed(now, SECRET);
        no_time.remove(TIMESTAMP_HEADER);
        assert_eq!(judge(&no_time), Err(Refused::NoTimestamp));
        assert_eq!(judge(&HeaderMap::new()), Err(Refused::Unsigned));
        // Without a secret there is nothing to check: it prints what came.
        assert_eq!(
            super::judge(None, &HeaderMap::new(), BODY, now),
            Ok("unsigned")
        );
    }

    async fn status(secret: Option<&str>, headers: HeaderMap) -> StatusCode {
        let mut request = Request::post("/hooks/shop")
            .body(Body::from(BODY))
            .expect("request");
        *request.headers_mut() = headers;
        router(secret.map(str::to_owned))
            .oneshot(request)
            .await
            .expect("an answer")
            .status()
    }

    #[tokio::test]
    async fn with_a_secret_a_replayed_or_unsigned_delivery_is_a_401() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            status(Some(SECRET), signed(now, SECRET)).await,
            StatusCode::OK
        );
        let replayed = signed(now - TIMESTAMP_TOLERANCE_SECS - 60, SECRET);
        assert_eq!(
            status(Some(SECRET), replayed).await,
            StatusCode::UNAUTHORIZED
        );
        let ahead = signed(now + TIMESTAMP_TOLERANCE_SECS + 60, SECRET);
        assert_eq!(status(Some(SECRET), ahead).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(Some(SECRET), HeaderMap::new()).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(status(None, HeaderMap::new()).await, StatusCode::OK);
    }
}
