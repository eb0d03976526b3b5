//! Exports a service's metrics while it runs: a consumer's /health and /metrics
//! listener (METRICS_ADDR), and the push to CloudWatch once per interval with a last
//! push when the service stops, so a short-lived task's counts are not lost.

use std::{sync::Arc, time::Duration};

use alerting_handlers::{metrics::metrics, ports::MetricsSink};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    adapters::cloudwatch::CloudWatchSink,
    config::MetricsConfig,
    error::StartError,
    runners::{http, shutdown::Shutdown},
};

/// The longest the last push may hold up a stopping service.
const LAST_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Exporter {
    stop: oneshot::Sender<()>,
    tasks: Vec<JoinHandle<()>>,
    sink: Option<Arc<dyn MetricsSink>>,
}

/// Starts exporting for `service` (the Service dimension). `listen`: serve
/// METRICS_ADDR, for the services that have no HTTP address of their own.
pub async fn start(
    config: &MetricsConfig,
    service: &str,
    listen: bool,
) -> Result<Exporter, StartError> {
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = Shutdown::on(async {
        let _ = stopped.await;
    });
    let mut tasks = Vec::new();
    if let (true, Some(addr)) = (listen, config.metrics_addr) {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen {
                addr,
                variable: "METRICS_ADDR",
                source,
            })?;
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!("{service}: /health and /metrics on http://{local}");
        let router = alerting_handlers::http::metrics_router();
        let until = shutdown.clone().wait();
        tasks.push(tokio::spawn(async move {
            if let Err(err) = http::serve(listener, router, until).await {
                tracing::warn!(error = %err, "the metrics listener failed");
            }
        }));
    }
    let sink = if config.cloudwatch_metrics {
        let sink: Arc<dyn MetricsSink> =
            Arc::new(CloudWatchSink::from_config(config, service).await);
        tracing::info!(
            namespace = %config.cloudwatch_namespace,
            environment = %config.environment,
            interval_s = config.cloudwatch_interval.as_secs_f64(),
            "metrics pushed to CloudWatch"
        );
        tasks.push(tokio::spawn(push_every(
            sink.clone(),
            config.cloudwatch_interval,
            shutdown,
        )));
        Some(sink)
    } else {
        None
    };
    Ok(Exporter { stop, tasks, sink })
}

async fn push(sink: &dyn MetricsSink) {
    if let Err(err) = sink.send(&metrics().read()).await {
        // The next push carries what this one did not (the sink keeps the last sent).
        tracing::warn!(error = %err, "metrics push failed");
    }
}

async fn push_every(sink: Arc<dyn MetricsSink>, interval: Duration, shutdown: Shutdown) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = shutdown.clone().wait() => return,
            _ = ticks.tick() => push(sink.as_ref()).await,
        }
    }
}

impl Exporter {
    /// Stops exporting, after one last push.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(sink) = self.sink
            && tokio::time::timeout(LAST_PUSH_TIMEOUT, push(sink.as_ref()))
                .await
                .is_err()
        {
            tracing::warn!("the last metrics push timed out");
        }
    }
}
