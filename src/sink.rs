//! `alerting sink`: a local webhook receiver that prints every delivery, for trying the
//! platform out and for checking an endpoint's secret. It answers 200 to every POST.

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

#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Where to listen.
    #[arg(long, env = "SINK_ADDR", default_value = "127.0.0.1:9000")]
    pub addr: SocketAddr,
    /// The endpoint's secret, to check signatures.
    #[arg(long, env = "SINK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn receive(
    State(secret): State<Option<String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = match (&secret, headers.get(SIGNATURE_HEADER)) {
        (_, None) => "unsigned",
        (None, Some(_)) => "signed (no --secret to check it)",
        (Some(secret), Some(_)) => {
            let timestamp = header(&headers, TIMESTAMP_HEADER).parse().unwrap_or(0);
            if verify(secret, timestamp, &body, header(&headers, SIGNATURE_HEADER)) {
                "signature ok"
            } else {
                "SIGNATURE INVALID"
            }
        }
    };
    let pretty = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    println!(
        "POST {} {IDEMPOTENCY_HEADER}={} {signature}\n{pretty}",
        uri.path(),
        header(&headers, IDEMPOTENCY_HEADER)
    );
    StatusCode::OK
}

pub async fn run(args: SinkArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {} (SINK_ADDR): {err}", args.addr))?;
    let address = listener.local_addr()?;
    let router = Router::new()
        .route("/", post(receive))
        .route("/{*path}", post(receive))
        .with_state(args.secret);
    println!("sink listening on http://{address}; Ctrl-C to stop");
    runners::http::serve(listener, router, shutdown.wait()).await?;
    Ok(())
}
