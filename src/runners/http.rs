//! The HTTP runner: serves a router on a listener until a shutdown future resolves,
//! then finishes the requests in flight. Tests hand it a listener on port 0.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
