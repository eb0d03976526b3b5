//! Ctrl-C and SIGTERM (what ECS sends on a deployment) both mean "stop cleanly".

use tokio::sync::watch;

/// Resolves on the first Ctrl-C or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// One shutdown signal shared by every part of a process.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown that fires when `trigger` resolves.
    pub fn on(trigger: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (sender, receiver) = watch::channel(false);
        tokio::spawn(async move {
            trigger.await;
            let _ = sender.send(true);
        });
        Self(receiver)
    }

    /// Resolves once shutdown has begun.
    pub async fn wait(mut self) {
        // An error means the sender is gone, which also means: stop.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}
