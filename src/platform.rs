//! `alerting up`: the whole platform in one process. It opens the backends once
//! (embedded where nothing is configured), starts every service through the same
//! `start` function `serve` and `run` use, and runs them, with the redrive on a timer,
//! until shutdown.

use std::net::SocketAddr;

use tokio::task::JoinSet;

use crate::{
    config::Settings,
    error::StartError,
    runners::shutdown::Shutdown,
    services::{Backends, Service, sender},
};

/// The order services start in: the consumers subscribe before the HTTP services can
/// take an alert, so nothing published is missed by the in-process bus.
const SERVICES: [Service; 6] = [
    Service::Evaluator,
    Service::Aggregator,
    Service::Sender,
    Service::RuleUpdater,
    Service::RuleService,
    Service::AlertProducer,
];

/// A started platform: where it listens, and its tasks.
pub struct RunningPlatform {
    pub rule_service: SocketAddr,
    pub alert_producer: SocketAddr,
    pub backends: Backends,
    tasks: JoinSet<Result<(), StartError>>,
}

impl RunningPlatform {
    /// Waits for every part to stop (after shutdown), returning the first failure.
    pub async fn wait(mut self) -> Result<(), StartError> {
        let mut outcome = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(err)) if outcome.is_ok() => outcome = Err(err),
                Ok(Err(err)) => tracing::error!(error = %err, "a part of the platform failed"),
                Err(err) => tracing::error!(error = %err, "a part of the platform panicked"),
            }
        }
        outcome
    }
}

/// Starts the whole platform in this process and returns once it serves.
pub async fn start(settings: &Settings, shutdown: Shutdown) -> Result<RunningPlatform, StartError> {
    let backends = Backends::for_platform(settings).await?;
    let mut started = Vec::new();
    let (mut rule_service, mut alert_producer) = (None, None);
    for service in SERVICES {
        let service_started = service.start(settings, &backends, shutdown.clone()).await?;
        match service {
            Service::RuleService => rule_service = service_started.addr,
            Service::AlertProducer => alert_producer = service_started.addr,
            _ => {}
        }
        started.push(service_started.task);
    }
    let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
    let (rule_service, alert_producer) = (
        rule_service.unwrap_or(unbound),
        alert_producer.unwrap_or(unbound),
    );
    let mode = if backends.is_embedded() {
        "embedded"
    } else {
        "distributed"
    };
    tracing::info!(
        "alerting up ({mode}): rule-service on http://{rule_service}, alert-producer on http://{alert_producer}; {}; Ctrl-C to stop",
        backends.describe()
    );
    let mut tasks = JoinSet::new();
    for task in started {
        tasks.spawn(task);
    }
    let (db, bus) = (backends.db("up")?, backends.bus("up")?);
    let (after, every) = (
        settings.delivery.redrive_after,
        settings.delivery.redrive_interval,
    );
    tasks.spawn(async move {
        sender::redrive_periodically(db, bus, after, every, shutdown).await;
        Ok(())
    });
    Ok(RunningPlatform {
        rule_service,
        alert_producer,
        backends,
        tasks,
    })
}

/// `alerting up`.
pub async fn up(settings: &Settings, shutdown: Shutdown) -> Result<(), StartError> {
    start(settings, shutdown).await?.wait().await
}
