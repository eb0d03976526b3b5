//! The HTTP runner: serves a router on a listener until a shutdown future resolves,
//! then finishes the requests in flight. Tests hand it a listener on port 0.
//!
//! Each connection is served by hyper directly rather than through `axum::serve`, for
//! what that lacks: a client that sends its headers slowly, or leaves a keep-alive
//! connection idle, is cut off after a bound ([`deadlines`]), and an answer given
//! before the request's body was read says `Connection: close` ([`unread_body`]).

mod deadlines;
mod unread_body;

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::Request};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};
use tower::ServiceExt;

use crate::config::HttpConfig;

use deadlines::{Activity, Deadlines};

/// How long a connection may keep the server waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte (a new connection's accept) to the end of its
    /// headers.
    pub header_read: Duration,
    /// Between a response and the next request's first byte on a kept-alive connection.
    pub idle: Duration,
}

impl From<&HttpConfig> for ConnectionLimits {
    fn from(config: &HttpConfig) -> Self {
        Self {
            header_read: config.http_header_read_timeout,
            idle: config.http_idle_timeout,
        }
    }
}

/// The documented defaults (HTTP_HEADER_READ_TIMEOUT, HTTP_IDLE_TIMEOUT).
impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::from(&HttpConfig::default())
    }
}

/// [`serve_with`] the default limits.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ConnectionLimits::default()).await
}

pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, router.clone(), limits, stopping.clone()));
                }
                Err(err) => pause_after(&err).await,
            },
            () = &mut shutdown => break,
            // Reaps finished connections, so the set holds the open ones only.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(stopping);
    // Each connection finishes its request in flight, then closes.
    let _ = stop.send(());
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// After a failed accept: at once for an error of that one connection, a second for
/// one of the process (out of file descriptors), instead of spinning on it.
async fn pause_after(err: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %err, "cannot accept connections; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Deadlines::new(stream, limits, activity.clone()));
    let service = service_fn(move |request: Request<Incoming>| {
        // Counted from here, synchronously, so the connection is busy before hyper
        // reads from it again.
        let open = activity.begin();
        respond(router.clone(), request.map(Body::new), open)
    });
    let served = http1::Builder::new()
        // Deadlines does this, and the idle wait too.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(served);
    let mut draining = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection closed");
                }
                return;
            }
            _ = stopping.changed(), if !draining => {
                draining = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn respond(
    router: Router,
    request: Request,
    open: deadlines::Open,
) -> Result<axum::response::Response, Infallible> {
    let (request, read) = unread_body::watch(request);
    let response = router.oneshot(request).await?;
    let response = unread_body::close_if_unread(response, &read);
    // The connection stays busy until hyper has sent the whole answer.
    Ok(response.map(|body| deadlines::held_open(body, open)))
}
