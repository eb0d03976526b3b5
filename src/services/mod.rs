//! The services, each started in one place from the settings and the backends: `up`
//! starts them all in one process on shared backends, and `serve`/`run` start one on
//! backends opened for it alone, through the same `start` function. Every service
//! module pairs a runner (a consumer loop or an HTTP server) with its handler in
//! `alerting-handlers`.
//!
//! Layout:
//! - `backends`: opening the database, bus, snapshot store and admin token, once.
//! - `rule_service`, `alert_producer`: the HTTP services.
//! - `evaluator`, `rule_updater`, `aggregator`, `sender`: the consumers.
//! - `jobs`: the one-shot tasks (`job redrive`, `job snapshot-rebuild`, `migrate`).

pub mod aggregator;
pub mod alert_producer;
pub mod backends;
pub mod evaluator;
pub mod jobs;
pub mod rule_service;
pub mod rule_updater;
pub mod sender;

use std::{future::Future, net::SocketAddr, sync::Arc};

use alerting_handlers::ports::{Bus, Subscription};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;

pub use self::backends::{Backends, Need, Needs};
use tokio::net::TcpListener;

use crate::{
    config::Settings,
    error::StartError,
    runners::{
        self,
        consumer::{self, BatchHandler},
        shutdown::Shutdown,
    },
};

/// A long-running service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    RuleService,
    AlertProducer,
    Evaluator,
    RuleUpdater,
    Aggregator,
    Sender,
}

/// A started service: bound and subscribed, its work in `task` (it stops on shutdown).
pub struct Started {
    /// Where an HTTP service listens.
    pub addr: Option<SocketAddr>,
    /// The line a service started on its own logs: where it listens, what it uses.
    pub summary: String,
    pub task: BoxFuture<'static, Result<(), StartError>>,
}

/// What a service starts from: the settings, the backends, and the shutdown it stops
/// on. Each service's `start` takes one and asks it for what it uses, by name, so a
/// missing backend is an error naming the service.
pub struct Context<'a> {
    pub settings: &'a Settings,
    pub backends: &'a Backends,
    pub shutdown: Shutdown,
    service: &'static str,
}

impl Context<'_> {
    pub fn db(&self) -> Result<DatabaseConnection, StartError> {
        self.backends.db(self.service)
    }

    pub fn bus(&self) -> Result<Arc<dyn Bus>, StartError> {
        self.backends.bus(self.service)
    }

    /// A consumer of `topic` in this service's group.
    pub fn subscription(&self, topic: &str) -> Result<Box<dyn Subscription>, StartError> {
        self.backends.subscription(self.service, topic)
    }

    pub fn admin_token(&self) -> Result<String, StartError> {
        self.backends.admin_token(self.service)
    }

    /// A consumer: no address, and `work` until shutdown.
    pub fn consumer(&self, work: impl Future<Output = ()> + Send + 'static) -> Started {
        Started {
            addr: None,
            summary: format!("{} started, {}", self.service, self.backends.describe()),
            task: Box::pin(async move {
                work.await;
                Ok(())
            }),
        }
    }

    /// A consumer of `topic` through the consumer runner: `handler` takes its batches,
    /// `in_flight` of them at once (committed in order).
    pub fn consume(
        &self,
        topic: &str,
        handler: impl BatchHandler + 'static,
        in_flight: usize,
    ) -> Result<Started, StartError> {
        let subscription = self.subscription(topic)?;
        let bus = self.bus()?;
        let batch_size = self.settings.matching.consumer_batch_size as usize;
        let (service, shutdown) = (self.service, self.shutdown.clone());
        Ok(self.consumer(async move {
            let run = consumer::run(
                service,
                subscription,
                bus,
                &handler,
                batch_size,
                in_flight,
                shutdown,
            );
            run.await;
        }))
    }

    /// An HTTP service: `router` served on `listener` until shutdown, then `after`
    /// (closing what the service holds).
    pub fn http(
        &self,
        listener: TcpListener,
        router: axum::Router,
        after: impl Future<Output = ()> + Send + 'static,
    ) -> Started {
        let (service, shutdown) = (self.service, self.shutdown.clone());
        let addr = backends::local_addr(&listener);
        let limits = (&self.settings.http).into();
        Started {
            addr: Some(addr),
            summary: format!("{service} on http://{addr}, {}", self.backends.describe()),
            task: Box::pin(async move {
                runners::http::serve_with(listener, router, shutdown.wait(), limits)
                    .await
                    .map_err(|source| StartError::Serve { service, source })?;
                after.await;
                tracing::info!("{service} stopped");
                Ok(())
            }),
        }
    }
}

impl Service {
    pub fn name(self) -> &'static str {
        self.needs().service
    }

    /// What the service needs when it runs on its own.
    pub fn needs(self) -> Needs {
        match self {
            Self::RuleService => rule_service::NEEDS,
            Self::AlertProducer => alert_producer::NEEDS,
            Self::Evaluator => evaluator::NEEDS,
            Self::RuleUpdater => rule_updater::NEEDS,
            Self::Aggregator => aggregator::NEEDS,
            Self::Sender => sender::NEEDS,
        }
    }

    /// Binds or subscribes, then hands back the work to run. Nothing is consumed or
    /// served until `task` is polled, so `up` can start every service before any of
    /// them publishes (the in-process bus keeps messages only for groups that exist).
    pub async fn start(
        self,
        settings: &Settings,
        backends: &Backends,
        shutdown: Shutdown,
    ) -> Result<Started, StartError> {
        let context = Context {
            settings,
            backends,
            shutdown,
            service: self.name(),
        };
        match self {
            Self::RuleService => rule_service::start(context).await,
            Self::AlertProducer => alert_producer::start(context).await,
            Self::Evaluator => evaluator::start(context),
            Self::RuleUpdater => rule_updater::start(context),
            Self::Aggregator => aggregator::start(context),
            Self::Sender => sender::start(context),
        }
    }
}

/// One service on its own, as its ECS service runs it (`serve`, `run`): its backends
/// opened and checked, then the service until shutdown.
pub async fn run_alone(
    service: Service,
    settings: &Settings,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let backends = Backends::for_service(settings, &service.needs()).await?;
    let started = service.start(settings, &backends, shutdown).await?;
    tracing::info!("{}", started.summary);
    started.task.await
}
