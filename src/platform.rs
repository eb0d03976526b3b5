//! Assembling services from configuration: the backends each mode uses, and what `up`,
//! `serve`, `run` and `job` start.

use std::{net::SocketAddr, sync::Arc};

use alerting_handlers::{
    events::topics,
    http::{
        alert_producer::AlertProducerSettings,
        rule_service::{RuleServiceSettings, TargetPolicy},
    },
    ports::{Bus, SnapshotStore},
};
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, task::JoinSet};

use crate::{
    adapters::{
        Subscription,
        channels::{ChannelSetupError, Channels},
        in_process_bus::InProcessBus,
        kafka::{self, KafkaBus, KafkaSetupError, KafkaSubscription},
        memory_snapshot::MemorySnapshotStore,
        redis_snapshot::RedisSnapshotStore,
    },
    config::{
        AlertProducerConfig, AuthConfig, DatabaseConfig, DeliveryConfig, HttpConfig, KafkaConfig,
        MatchingConfig, RedisConfig, RuleServiceConfig, TargetConfig,
    },
    db::{self, Backend, DbSetupError},
    runners::{self, http::ConnectionLimits, shutdown::Shutdown},
    services::{
        aggregator,
        evaluator::{self, EvaluatorSettings},
        rule_updater::{self, RuleUpdater, RuleUpdaterSettings},
        sender::{self, SenderSettings},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error(transparent)]
    Kafka(#[from] KafkaSetupError),
    #[error(transparent)]
    Channels(#[from] ChannelSetupError),
    #[error("cannot use Redis at REDIS_URL: {0}")]
    Redis(String),
    #[error("{service} needs {what}")]
    Missing {
        service: &'static str,
        what: &'static str,
    },
    #[error("cannot listen on {addr} (set {variable} to another address): {source}")]
    Listen {
        addr: SocketAddr,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("the {service} server failed: {source}")]
    Serve {
        service: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Job(String),
    #[error("{0}")]
    AdminToken(String),
}

/// In-process queue length per topic and consumer group in embedded mode.
const IN_PROCESS_CAPACITY: usize = 10_000;

/// The bus and snapshot store of this process: Kafka and Redis when configured,
/// in-process otherwise.
#[derive(Clone)]
pub struct Backends {
    pub bus: Arc<dyn Bus>,
    pub store: Arc<dyn SnapshotStore>,
    in_process: Option<InProcessBus>,
    kafka: Option<KafkaConfig>,
}

impl Backends {
    pub fn from_config(kafka: &KafkaConfig, redis: &RedisConfig) -> Result<Self, StartError> {
        let (bus, in_process, kafka): (Arc<dyn Bus>, _, _) = match &kafka.brokers {
            Some(_) => (Arc::new(KafkaBus::new(kafka)?), None, Some(kafka.clone())),
            None => {
                let bus = InProcessBus::new(IN_PROCESS_CAPACITY);
                (Arc::new(bus.clone()), Some(bus), None)
            }
        };
        let store: Arc<dyn SnapshotStore> = match &redis.redis_url {
            Some(url) => Arc::new(
                RedisSnapshotStore::new(url, &redis.redis_key_prefix)
                    .map_err(|err| StartError::Redis(err.to_string()))?,
            ),
            None => Arc::new(MemorySnapshotStore::default()),
        };
        Ok(Self {
            bus,
            store,
            in_process,
            kafka,
        })
    }

    /// The in-process bus, in embedded mode (tests tap topics through it).
    pub fn in_process_bus(&self) -> Option<&InProcessBus> {
        self.in_process.as_ref()
    }

    pub fn describe(&self, redis: &RedisConfig) -> String {
        let bus = match &self.kafka {
            Some(config) => format!("kafka {}", config.brokers.clone().unwrap_or_default()),
            None => "in-process".to_owned(),
        };
        let snapshot = if redis.redis_url.is_some() {
            "redis"
        } else {
            "in-process"
        };
        format!("bus {bus}, snapshot {snapshot}")
    }

    /// A consumer of `topic` in the group of `service`.
    pub fn subscription(
        &self,
        service: &str,
        topic: &str,
    ) -> Result<Box<dyn Subscription>, StartError> {
        match (&self.in_process, &self.kafka) {
            (Some(bus), _) => Ok(Box::new(bus.subscribe(topic, service))),
            (None, Some(config)) => Ok(Box::new(KafkaSubscription::new(config, service, topic)?)),
            (None, None) => Err(StartError::Missing {
                service: "a consumer",
                what: "a bus",
            }),
        }
    }

    /// In Kafka mode, fails clearly when a topic the service uses is missing.
    pub async fn require_topics(&self, needed: &[&str]) -> Result<(), StartError> {
        if let Some(config) = &self.kafka {
            let mut all = Vec::new();
            for topic in needed {
                all.push((*topic).to_owned());
                all.push(topics::dead_letters(topic));
            }
            kafka::require_topics(config, &all).await?;
        }
        Ok(())
    }
}

/// Everything `up` runs, configured.
pub struct PlatformConfig {
    pub database: DatabaseConfig,
    pub rule_service: RuleServiceConfig,
    pub alert_producer: AlertProducerConfig,
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub matching: MatchingConfig,
    pub delivery: DeliveryConfig,
    pub auth: AuthConfig,
    pub targets: TargetConfig,
    pub http: HttpConfig,
}

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

fn settings_for_updater(matching: &MatchingConfig) -> RuleUpdaterSettings {
    RuleUpdaterSettings {
        lease_ttl: matching.lease_ttl,
        rebuild_interval: matching.snapshot_rebuild_interval,
        outbox_poll_interval: matching.outbox_poll_interval,
        batch_size: matching.consumer_batch_size as usize,
    }
}

fn settings_for_evaluator(matching: &MatchingConfig) -> EvaluatorSettings {
    EvaluatorSettings {
        poll_interval: matching.snapshot_poll_interval,
        batch_size: matching.consumer_batch_size as usize,
    }
}

fn sender_settings(delivery: &DeliveryConfig, matching: &MatchingConfig) -> SenderSettings {
    SenderSettings {
        policy: delivery.policy(),
        concurrency: delivery.sender_concurrency as usize,
        concurrency_per_endpoint: delivery.sender_concurrency_per_endpoint as usize,
        circuit_breaker: delivery.circuit_breaker(),
        batch_wait: delivery.sender_batch_wait,
        batch_size: matching.consumer_batch_size as usize,
        batches_in_flight: delivery.sender_batches_in_flight as usize,
    }
}

fn updater_subscriptions(backends: &Backends) -> rule_updater::SubscribeFn {
    let backends = backends.clone();
    Box::new(move || {
        backends
            .subscription("rule-updater", topics::RULE_CHANGED)
            .map_err(|err| err.to_string())
    })
}

/// Starts the whole platform in this process and returns once it serves.
pub async fn start(
    config: &PlatformConfig,
    shutdown: Shutdown,
) -> Result<RunningPlatform, StartError> {
    let (db, database) = db::connect(&config.database).await?;
    let applied = db::migrate(&db).await?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    let backends = Backends::from_config(&config.kafka, &config.redis)?;
    if config.kafka.brokers.is_some() {
        let created = kafka::create_topics(&config.kafka).await?;
        if !created.is_empty() {
            tracing::info!(topics = %created.join(", "), "created Kafka topics");
        }
    }
    let rule_listener = bind(config.rule_service.rule_service_addr, "RULE_SERVICE_ADDR").await?;
    let producer_listener = bind(
        config.alert_producer.alert_producer_addr,
        "ALERT_PRODUCER_ADDR",
    )
    .await?;
    // Subscribe before anything can publish: the in-process bus keeps messages only
    // for groups that exist.
    let evaluations = backends.subscription("evaluator", topics::ALERTS_NEW)?;
    let aggregations = backends.subscription("aggregator", topics::ALERTS_MATCHED)?;
    let sends = backends.subscription("sender", topics::NOTIFICATIONS_READY)?;
    let channels: Arc<dyn alerting_handlers::ports::Channel> = Arc::new(Channels::new(
        &config.delivery,
        config.targets.allow_private_endpoints,
    )?);
    let admin_token = crate::admin_token::for_up(&config.auth, &config.database)?;

    let rule_service = local_addr(&rule_listener);
    let alert_producer = local_addr(&producer_listener);
    let mode = if database.is_embedded() && config.kafka.brokers.is_none() {
        "embedded"
    } else {
        "distributed"
    };
    tracing::info!(
        "alerting up ({mode}): rule-service on http://{rule_service}, alert-producer on http://{alert_producer}; database {database}, {}; Ctrl-C to stop",
        backends.describe(&config.redis)
    );

    let mut tasks = JoinSet::new();
    tasks.spawn(serve_rule_service(
        rule_listener,
        db.clone(),
        RuleServiceSettings {
            admin_token: admin_token.clone(),
            targets: target_policy(&config.targets),
            bus: Some(backends.bus.clone()),
            quotas: config.rule_service.quotas.quotas(),
            write_rate_limit: config.rule_service.quotas.write_rate_limit,
        },
        config.http.limits(),
        shutdown.clone(),
    ));
    tasks.spawn(serve_alert_producer(
        producer_listener,
        backends.bus.clone(),
        AlertProducerSettings {
            admin_token,
            keys: Some(db.clone()),
            ingest_rate_limit: config.auth.ingest_rate_limit,
        },
        config.http.limits(),
        shutdown.clone(),
    ));
    let updater = RuleUpdater {
        db: db.clone(),
        bus: backends.bus.clone(),
        store: backends.store.clone(),
        settings: settings_for_updater(&config.matching),
        holder: rule_updater::instance_id(),
    };
    let subscribe = updater_subscriptions(&backends);
    let stop = shutdown.clone();
    tasks.spawn(async move {
        updater.run(subscribe, stop).await;
        Ok(())
    });
    let (bus, store, settings, stop) = (
        backends.bus.clone(),
        backends.store.clone(),
        settings_for_evaluator(&config.matching),
        shutdown.clone(),
    );
    tasks.spawn(async move {
        evaluator::run(evaluations, bus, store, settings, stop).await;
        Ok(())
    });
    let (db_for_aggregator, bus, batch, stop) = (
        db.clone(),
        backends.bus.clone(),
        config.matching.consumer_batch_size as usize,
        shutdown.clone(),
    );
    tasks.spawn(async move {
        aggregator::run(aggregations, db_for_aggregator, bus, batch, stop).await;
        Ok(())
    });
    let (db_for_sender, bus, settings, stop) = (
        db.clone(),
        backends.bus.clone(),
        sender_settings(&config.delivery, &config.matching),
        shutdown.clone(),
    );
    tasks.spawn(async move {
        sender::run(sends, db_for_sender, bus, channels, settings, stop).await;
        Ok(())
    });
    let (bus, after, every, stop) = (
        backends.bus.clone(),
        config.delivery.redrive_after,
        config.delivery.redrive_interval,
        shutdown.clone(),
    );
    tasks.spawn(async move {
        sender::redrive_periodically(db, bus, after, every, stop).await;
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
pub async fn up(config: &PlatformConfig, shutdown: Shutdown) -> Result<(), StartError> {
    start(config, shutdown).await?.wait().await
}

/// The rule-service alone, as its ECS service runs it. Migrations are a separate,
/// one-off step (`alerting migrate`).
pub async fn serve_rule_service_from_config(
    database: &DatabaseConfig,
    rule_service: &RuleServiceConfig,
    kafka: &KafkaConfig,
    auth: &AuthConfig,
    targets: &TargetConfig,
    http: &HttpConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let admin_token = crate::admin_token::required("rule-service", auth)?;
    let (db, backend) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    // Retrying a notification announces it on the bus; without Kafka that route says so.
    let bus: Option<Arc<dyn Bus>> = match &kafka.brokers {
        Some(_) => Some(Arc::new(KafkaBus::new(kafka)?)),
        None => None,
    };
    let listener = bind(rule_service.rule_service_addr, "RULE_SERVICE_ADDR").await?;
    tracing::info!(
        "rule-service on http://{}, database {backend}",
        local_addr(&listener)
    );
    let settings = RuleServiceSettings {
        admin_token,
        targets: target_policy(targets),
        bus,
        quotas: rule_service.quotas.quotas(),
        write_rate_limit: rule_service.quotas.write_rate_limit,
    };
    serve_rule_service(listener, db, settings, http.limits(), shutdown).await
}

fn target_policy(config: &TargetConfig) -> TargetPolicy {
    if config.allow_private_endpoints {
        tracing::warn!(
            "ALLOW_PRIVATE_ENDPOINTS is on: endpoints may name loopback and private addresses"
        );
    }
    TargetPolicy {
        allow_private: config.allow_private_endpoints,
    }
}

/// The alert-producer alone.
pub async fn serve_alert_producer_from_config(
    config: &AlertProducerConfig,
    database: &DatabaseConfig,
    kafka: &KafkaConfig,
    redis: &RedisConfig,
    auth: &AuthConfig,
    http: &HttpConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    require_kafka("alert-producer", kafka)?;
    let admin_token = crate::admin_token::required("alert-producer", auth)?;
    // Client keys live in the database; without one, only the admin token is taken.
    let keys = match &database.database_url {
        Some(_) => {
            let (db, _) = db::connect(database).await?;
            db::require_current_schema(&db).await?;
            Some(db)
        }
        None => {
            tracing::warn!(
                "alert-producer: no DATABASE_URL, so client API keys cannot be checked; only the admin token is taken"
            );
            None
        }
    };
    let backends = Backends::from_config(kafka, redis)?;
    backends.require_topics(&[topics::ALERTS_NEW]).await?;
    let listener = bind(config.alert_producer_addr, "ALERT_PRODUCER_ADDR").await?;
    tracing::info!(
        "alert-producer on http://{}, {}",
        local_addr(&listener),
        backends.describe(redis)
    );
    let settings = AlertProducerSettings {
        admin_token,
        keys,
        ingest_rate_limit: auth.ingest_rate_limit,
    };
    serve_alert_producer(
        listener,
        backends.bus.clone(),
        settings,
        http.limits(),
        shutdown,
    )
    .await
}

fn require_kafka(service: &'static str, kafka: &KafkaConfig) -> Result<(), StartError> {
    if kafka.brokers.is_none() {
        return Err(StartError::Missing {
            service,
            what: "KAFKA_BROKERS when run on its own (use `alerting up` for embedded mode)",
        });
    }
    Ok(())
}

fn require_redis(service: &'static str, redis: &RedisConfig) -> Result<(), StartError> {
    if redis.redis_url.is_none() {
        return Err(StartError::Missing {
            service,
            what: "REDIS_URL when run on its own (use `alerting up` for embedded mode)",
        });
    }
    Ok(())
}

/// The evaluator alone.
pub async fn run_evaluator(
    kafka: &KafkaConfig,
    redis: &RedisConfig,
    matching: &MatchingConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    require_kafka("evaluator", kafka)?;
    require_redis("evaluator", redis)?;
    let backends = Backends::from_config(kafka, redis)?;
    backends
        .require_topics(&[topics::ALERTS_NEW, topics::ALERTS_MATCHED])
        .await?;
    let subscription = backends.subscription("evaluator", topics::ALERTS_NEW)?;
    tracing::info!("evaluator started, {}", backends.describe(redis));
    evaluator::run(
        subscription,
        backends.bus.clone(),
        backends.store.clone(),
        settings_for_evaluator(matching),
        shutdown,
    )
    .await;
    Ok(())
}

/// The rule-updater alone.
pub async fn run_rule_updater(
    database: &DatabaseConfig,
    kafka: &KafkaConfig,
    redis: &RedisConfig,
    matching: &MatchingConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    require_kafka("rule-updater", kafka)?;
    require_redis("rule-updater", redis)?;
    let (db, database) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    let backends = Backends::from_config(kafka, redis)?;
    backends.require_topics(&[topics::RULE_CHANGED]).await?;
    let holder = rule_updater::instance_id();
    tracing::info!(%holder, "rule-updater started, database {database}, {}", backends.describe(redis));
    let updater = RuleUpdater {
        db,
        bus: backends.bus.clone(),
        store: backends.store.clone(),
        settings: settings_for_updater(matching),
        holder,
    };
    updater
        .run(updater_subscriptions(&backends), shutdown)
        .await;
    Ok(())
}

/// The aggregator alone.
pub async fn run_aggregator(
    database: &DatabaseConfig,
    kafka: &KafkaConfig,
    matching: &MatchingConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    require_kafka("aggregator", kafka)?;
    let (db, database) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    let backends = Backends::from_config(kafka, &RedisConfig::none())?;
    backends
        .require_topics(&[topics::ALERTS_MATCHED, topics::NOTIFICATIONS_READY])
        .await?;
    let subscription = backends.subscription("aggregator", topics::ALERTS_MATCHED)?;
    tracing::info!(
        "aggregator started, database {database}, {}",
        backends.describe(&RedisConfig::none())
    );
    aggregator::run(
        subscription,
        db,
        backends.bus.clone(),
        matching.consumer_batch_size as usize,
        shutdown,
    )
    .await;
    Ok(())
}

/// The sender alone.
pub async fn run_sender(
    database: &DatabaseConfig,
    kafka: &KafkaConfig,
    matching: &MatchingConfig,
    delivery: &DeliveryConfig,
    targets: &TargetConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    require_kafka("sender", kafka)?;
    let (db, database) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    let backends = Backends::from_config(kafka, &RedisConfig::none())?;
    backends
        .require_topics(&[topics::NOTIFICATIONS_READY])
        .await?;
    let subscription = backends.subscription("sender", topics::NOTIFICATIONS_READY)?;
    let channels = Arc::new(Channels::new(delivery, targets.allow_private_endpoints)?);
    tracing::info!(
        "sender started, database {database}, {}",
        backends.describe(&RedisConfig::none())
    );
    sender::run(
        subscription,
        db,
        backends.bus.clone(),
        channels,
        sender_settings(delivery, matching),
        shutdown,
    )
    .await;
    Ok(())
}

/// `alerting job redrive`: announces stuck notifications again; returns how many.
pub async fn redrive(
    database: &DatabaseConfig,
    kafka: &KafkaConfig,
    delivery: &DeliveryConfig,
) -> Result<usize, StartError> {
    require_kafka("redrive", kafka)?;
    let (db, _) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    let bus = KafkaBus::new(kafka)?;
    let mut total = 0;
    loop {
        let count = alerting_handlers::jobs::redrive::redrive_stuck(
            &db,
            &bus,
            delivery.redrive_after,
            1_000,
        )
        .await
        .map_err(|err| StartError::Job(err.to_string()))?;
        total += count;
        if count < 1_000 {
            return Ok(total);
        }
    }
}

/// `alerting job snapshot-rebuild`.
pub async fn snapshot_rebuild(
    database: &DatabaseConfig,
    redis: &RedisConfig,
    matching: &MatchingConfig,
) -> Result<Option<u64>, StartError> {
    require_redis("snapshot-rebuild", redis)?;
    let (db, _) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    let store = RedisSnapshotStore::new(
        redis.redis_url.as_deref().unwrap_or_default(),
        &redis.redis_key_prefix,
    )
    .map_err(|err| StartError::Redis(err.to_string()))?;
    rule_updater::rebuild_once(&db, &store, matching.lease_ttl)
        .await
        .map_err(StartError::Job)
}

/// `alerting migrate`: applies pending migrations and reports what it did.
pub async fn migrate(database: &DatabaseConfig) -> Result<(usize, Backend), StartError> {
    let (db, backend) = db::connect(database).await?;
    let applied = db::migrate(&db).await?;
    db.close().await.ok();
    Ok((applied, backend))
}

async fn bind(addr: SocketAddr, variable: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr,
            variable,
            source,
        })
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

async fn serve_rule_service(
    listener: TcpListener,
    db: DatabaseConnection,
    settings: RuleServiceSettings,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let router = alerting_handlers::http::rule_service::router(db.clone(), settings);
    runners::http::serve_with(listener, router, shutdown.wait(), limits)
        .await
        .map_err(|source| StartError::Serve {
            service: "rule-service",
            source,
        })?;
    db.close().await.ok();
    tracing::info!("rule-service stopped");
    Ok(())
}

async fn serve_alert_producer(
    listener: TcpListener,
    bus: Arc<dyn Bus>,
    settings: AlertProducerSettings,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let router = alerting_handlers::http::alert_producer::router(bus, settings);
    runners::http::serve_with(listener, router, shutdown.wait(), limits)
        .await
        .map_err(|source| StartError::Serve {
            service: "alert-producer",
            source,
        })?;
    tracing::info!("alert-producer stopped");
    Ok(())
}
