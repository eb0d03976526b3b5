//! What a service starts on: the database, the bus, the snapshot store and the admin
//! token. Opened once per process, in one of two ways: for `up` (migrate the database,
//! create the topics, the embedded parts where nothing is configured: the bus log on
//! disk and the in-process snapshot, an admin token made on first start) or for one service on its own (check the schema, check that
//! its topics exist, refuse to start without what it needs). Every service then
//! starts from the same `Backends` either way.

use std::{net::SocketAddr, sync::Arc};

use alerting_handlers::{
    events::topics,
    ports::{Bus, SnapshotStore, Subscription},
};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::{
    adapters::{
        durable_bus::DurableBus, kafka::Kafka, memory_snapshot::MemorySnapshotStore,
        redis_snapshot::RedisSnapshotStore,
    },
    config::Settings,
    db::{self, Backend},
    error::StartError,
};

/// The consumer groups of embedded mode (a group is its service), registered with the
/// bus log before any of them reads; a subscription of another is a bug the log's
/// debug check names.
const EMBEDDED_GROUPS: [(&str, &str); 4] = [
    (topics::ALERTS_NEW, "evaluator"),
    (topics::ALERTS_MATCHED, "aggregator"),
    (topics::NOTIFICATIONS_READY, "sender"),
    (topics::RULE_CHANGED, "rule-updater"),
];

/// How much a service on its own depends on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    No,
    /// Used when configured; the service says what it cannot do without it.
    Optional,
    Required,
}

/// What one service needs to start on its own.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    pub service: &'static str,
    pub database: Need,
    pub kafka: Need,
    pub redis: Need,
    /// The topics it consumes or publishes (their dead-letter topics are checked too).
    pub topics: &'static [&'static str],
    pub admin_token: bool,
}

#[derive(Clone)]
pub struct Backends {
    db: Option<(DatabaseConnection, Backend)>,
    bus: Option<Arc<dyn Bus>>,
    pub store: Arc<dyn SnapshotStore>,
    /// Embedded mode's bus: the log in `$DATA_DIR/bus.db`.
    embedded_bus: Option<DurableBus>,
    kafka: Option<Kafka>,
    /// What the log line says of the bus and the snapshot, where the service uses them.
    uses: Uses,
    admin_token: Option<String>,
}

#[derive(Clone, Copy)]
struct Uses {
    bus: bool,
    redis: Option<bool>,
}

impl Backends {
    /// For `up`: every part, embedded where nothing is configured; the database migrated
    /// and the Kafka topics created.
    pub async fn for_platform(settings: &Settings) -> Result<Self, StartError> {
        let (db, backend) = db::connect(&settings.database).await?;
        let applied = db::migrate(&db).await?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
        let (bus, in_process, kafka): (Arc<dyn Bus>, _, _) = match &settings.kafka.brokers {
            Some(_) => {
                let kafka = Kafka::connect(&settings.kafka).await?;
                let created = kafka.create_topics().await?;
                if !created.is_empty() {
                    tracing::info!(topics = %created.join(", "), "created Kafka topics");
                }
                (Arc::new(kafka.bus()?), None, Some(kafka))
            }
            None => {
                let dir = &settings.database.data_dir;
                crate::private_files::private_dir(dir).map_err(|source| {
                    db::DbSetupError::DataDir {
                        path: dir.clone(),
                        source,
                    }
                })?;
                let bus = DurableBus::open(&dir.join("bus.db")).await?;
                bus.register(&EMBEDDED_GROUPS).await?;
                (Arc::new(bus.clone()), Some(bus), None)
            }
        };
        let admin_token = crate::admin_token::for_up(&settings.auth, &settings.database)?;
        Ok(Self {
            db: Some((db, backend)),
            bus: Some(bus),
            store: snapshot_store(settings).await?,
            embedded_bus: in_process,
            kafka,
            uses: Uses {
                bus: true,
                redis: Some(settings.redis.redis_url.is_some()),
            },
            admin_token: Some(admin_token),
        })
    }

    /// For one service on its own (`serve`, `run`, `job`): what `needs` names, checked.
    pub async fn for_service(settings: &Settings, needs: &Needs) -> Result<Self, StartError> {
        let service = needs.service;
        if needs.kafka == Need::Required && settings.kafka.brokers.is_none() {
            return Err(StartError::Missing {
                service,
                what: "KAFKA_BROKERS when run on its own (use `alerting up` for embedded mode)",
            });
        }
        if needs.redis == Need::Required && settings.redis.redis_url.is_none() {
            return Err(StartError::Missing {
                service,
                what: "REDIS_URL when run on its own (use `alerting up` for embedded mode)",
            });
        }
        let admin_token = match needs.admin_token {
            true => Some(crate::admin_token::required(service, &settings.auth)?),
            false => None,
        };
        let db = match (needs.database, &settings.database.database_url) {
            (Need::No, _) | (Need::Optional, None) => None,
            (Need::Required | Need::Optional, _) => {
                let (db, backend) = db::connect(&settings.database).await?;
                db::require_current_schema(&db).await?;
                Some((db, backend))
            }
        };
        let kafka = match (needs.kafka, &settings.kafka.brokers) {
            (Need::No, _) | (_, None) => None,
            (_, Some(_)) => Some(Kafka::connect(&settings.kafka).await?),
        };
        let bus: Option<Arc<dyn Bus>> = match &kafka {
            Some(kafka) => {
                let mut all = Vec::new();
                for topic in needs.topics {
                    all.push((*topic).to_owned());
                    all.push(topics::dead_letters(topic));
                }
                kafka.require_topics(&all).await?;
                Some(Arc::new(kafka.bus()?))
            }
            None => None,
        };
        let uses_redis = needs.redis != Need::No && settings.redis.redis_url.is_some();
        Ok(Self {
            db,
            bus,
            store: match uses_redis {
                true => snapshot_store(settings).await?,
                false => Arc::new(MemorySnapshotStore::default()),
            },
            embedded_bus: None,
            kafka,
            uses: Uses {
                bus: needs.kafka != Need::No,
                redis: (needs.redis != Need::No).then_some(uses_redis),
            },
            admin_token,
        })
    }

    /// The database, for a service that needs one.
    pub fn db(&self, service: &'static str) -> Result<DatabaseConnection, StartError> {
        self.db
            .as_ref()
            .map(|(db, _)| db.clone())
            .ok_or(StartError::Missing {
                service,
                what: "DATABASE_URL",
            })
    }

    /// The database, where one is configured.
    pub fn optional_db(&self) -> Option<DatabaseConnection> {
        self.db.as_ref().map(|(db, _)| db.clone())
    }

    /// The bus, for a service that publishes.
    pub fn bus(&self, service: &'static str) -> Result<Arc<dyn Bus>, StartError> {
        self.bus.clone().ok_or(StartError::Missing {
            service,
            what: "KAFKA_BROKERS",
        })
    }

    /// The bus, where one is configured.
    pub fn optional_bus(&self) -> Option<Arc<dyn Bus>> {
        self.bus.clone()
    }

    /// The admin token (for the HTTP services).
    pub fn admin_token(&self, service: &'static str) -> Result<String, StartError> {
        self.admin_token
            .clone()
            .ok_or_else(|| StartError::AdminToken(format!("{service} needs ADMIN_TOKEN")))
    }

    /// Embedded mode's bus (tests tap topics through it).
    pub fn embedded_bus(&self) -> Option<&DurableBus> {
        self.embedded_bus.as_ref()
    }

    /// Embedded: SQLite and the in-process bus.
    pub fn is_embedded(&self) -> bool {
        self.kafka.is_none() && self.db.as_ref().is_none_or(|(_, b)| b.is_embedded())
    }

    /// "database …, bus …, snapshot …", for the log line a service starts with.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((_, backend)) = &self.db {
            parts.push(format!("database {backend}"));
        }
        if self.uses.bus {
            parts.push(match (&self.kafka, &self.embedded_bus) {
                (Some(kafka), _) => format!(
                    "bus kafka {} ({})",
                    kafka.config().brokers.clone().unwrap_or_default(),
                    kafka.describe_security()
                ),
                (None, Some(_)) => "bus embedded (a log on disk)".to_owned(),
                (None, None) => "no bus".to_owned(),
            });
        }
        match self.uses.redis {
            Some(true) => parts.push("snapshot redis".to_owned()),
            Some(false) => parts.push("snapshot in-process".to_owned()),
            None => {}
        }
        parts.join(", ")
    }

    /// A consumer of `topic` in the group of `service`.
    pub fn subscription(
        &self,
        service: &'static str,
        topic: &str,
    ) -> Result<Box<dyn Subscription>, StartError> {
        match (&self.embedded_bus, &self.kafka) {
            (Some(bus), _) => Ok(Box::new(bus.subscribe(topic, service))),
            (None, Some(kafka)) => Ok(Box::new(kafka.subscribe(service, topic)?)),
            (None, None) => Err(StartError::Missing {
                service,
                what: "a bus",
            }),
        }
    }
}

async fn snapshot_store(settings: &Settings) -> Result<Arc<dyn SnapshotStore>, StartError> {
    Ok(match &settings.redis.redis_url {
        Some(_) => Arc::new(RedisSnapshotStore::connect(&settings.redis).await?),
        None => Arc::new(MemorySnapshotStore::default()),
    })
}

/// Listens on `addr`; `variable` is the setting to change when it is taken.
pub async fn bind(addr: SocketAddr, variable: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr,
            variable,
            source,
        })
}

/// Where a listener listens.
pub fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}
