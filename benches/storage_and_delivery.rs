//! The paths that touch Postgres and the network: the aggregator's batch insert, and
//! the sender's delivery loop against a webhook receiver on loopback.
//!
//! Needs Postgres (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres);
//! each run works in a database of its own and drops it. `cargo bench -p alerting`.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use alerting::{adapters::channels::Channels, config::DeliveryConfig};
use alerting_entities::{clients, endpoints, rules};
use alerting_handlers::{
    domain::NotificationStatus,
    events::{AlertBody, AlertMatchedEvent, NotificationReadyEvent, SCHEMA_VERSION},
    jobs::{
        aggregate::aggregate,
        send::{DeliveryLimits, SendOutcome, send_notifications},
        timings::Timings,
    },
};
use chrono::Utc;
use clap::Parser;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel,
};
use uuid::Uuid;

const BATCH: usize = 500;

#[derive(Parser)]
struct Delivery {
    #[command(flatten)]
    config: DeliveryConfig,
}

struct Database {
    db: DatabaseConnection,
    admin: DatabaseConnection,
    name: String,
}

impl Database {
    async fn create() -> Self {
        let admin_url = std::env::var("BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin = alerting::db::connect_url(&admin_url, 1)
            .await
            .expect("Postgres at BENCH_POSTGRES_URL");
        let name = format!("alerting_criterion_{}", std::process::id());
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let mut url = url::Url::parse(&admin_url).expect("a URL");
        url.set_path(&format!("/{name}"));
        let db = alerting::db::connect_url(url.as_str(), 10)
            .await
            .expect("connect");
        alerting::db::migrate(&db).await.expect("migrate");
        Self { db, admin, name }
    }

    async fn drop(self) {
        self.db.close().await.ok();
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .ok();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Inserts a whole row, every column as given.
trait InsertInto<A> {
    async fn insert_into(self, db: &DatabaseConnection);
}

impl<M, A> InsertInto<A> for M
where
    M: IntoActiveModel<A> + Send,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    async fn insert_into(self, db: &DatabaseConnection) {
        self.into_active_model()
            .reset_all()
            .insert(db)
            .await
            .expect("a row of the bench's fixture");
    }
}

async fn client_with_rule(db: &DatabaseConnection, endpoint: Option<&str>) -> Uuid {
    let now = Utc::now();
    clients::Model {
        label_mapping: None,
        id: "acme".into(),
        name: None,
        created_at: now,
        updated_at: now,
    }
    .insert_into(db)
    .await;
    let rule = rules::Model {
        id: Uuid::new_v4(),
        client_id: "acme".into(),
        severity: "*".into(),
        source: "*".into(),
        name: "*".into(),
        enabled: true,
        version: 1,
        created_at: now,
        updated_at: now,
        repeat_interval_seconds: None,
        auto_resolve_after_seconds: None,
    };
    let rule_id = rule.id;
    rule.insert_into(db).await;
    if let Some(url) = endpoint {
        endpoints::Model {
            id: Uuid::new_v4(),
            rule_id,
            kind: "webhook".into(),
            value: url.into(),
            secret: Some("bench".into()),
            enabled: true,
            created_at: now,
            updated_at: now,
        }
        .insert_into(db)
        .await;
    }
    rule_id
}

fn matched(n: u64, rule_id: Uuid) -> AlertMatchedEvent {
    AlertMatchedEvent {
        schema_version: SCHEMA_VERSION,
        alert: AlertBody {
            owner: None,
            alert_id: format!("alert-{n}"),
            event_ts: Utc::now(),
            severity: "HIGH".into(),
            source: "payments".into(),
            name: "timeout".into(),
            context: [("host".to_owned(), "node-17".to_owned())].into(),
            dedup_key: None,
            status: Default::default(),
        },
        client_id: "acme".into(),
        rule_ids: vec![rule_id],
    }
}

fn aggregator_insert(c: &mut Criterion) {
    let rt = runtime();
    let database = rt.block_on(Database::create());
    let rule_id = rt.block_on(client_with_rule(&database.db, None));
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("aggregator");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("batch_insert_500_postgres", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (db, next) = (&database.db, &next);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch: Vec<AlertMatchedEvent> = (0..BATCH)
                        .map(|_| matched(next.fetch_add(1, Ordering::Relaxed), rule_id))
                        .collect();
                    let started = Instant::now();
                    let announced = aggregate(db, &batch, &Timings::default())
                        .await
                        .expect("stored");
                    total += started.elapsed();
                    assert_eq!(announced.len(), BATCH);
                }
                total
            }
        })
    });
    group.finish();
    rt.block_on(database.drop());
}

async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let address = listener.local_addr().expect("address");
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::OK }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/hook")
}

fn sender_loop(c: &mut Criterion) {
    let rt = runtime();
    let database = rt.block_on(Database::create());
    let url = rt.block_on(receiver());
    let rule_id = rt.block_on(client_with_rule(&database.db, Some(&url)));
    let config = Delivery::parse_from(["bench"]).config;
    let channels: std::sync::Arc<dyn alerting_handlers::ports::Channel> =
        std::sync::Arc::new(Channels::new(&config, true).expect("channels"));
    let limits = std::sync::Arc::new(DeliveryLimits::new(64, 64));
    let policy = config.policy();
    let next = AtomicU64::new(0);
    const NOTIFICATIONS: usize = 100;
    let mut group = c.benchmark_group("sender");
    group.throughput(Throughput::Elements(NOTIFICATIONS as u64));
    // One for the run, as a sender keeps one: silences read once a second.
    let silencer = alerting_handlers::jobs::silences::Silencer::default();
    group.bench_function("deliver_100_notifications_loopback_webhook", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (db, next, channels, limits, policy, silencer) =
                (&database.db, &next, &channels, &limits, &policy, &silencer);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch: Vec<AlertMatchedEvent> = (0..NOTIFICATIONS)
                        .map(|_| matched(next.fetch_add(1, Ordering::Relaxed), rule_id))
                        .collect();
                    let ids: Vec<Uuid> = aggregate(db, &batch, &Timings::default())
                        .await
                        .expect("stored")
                        .iter()
                        .filter_map(|m| NotificationReadyEvent::decode(&m.payload).ok())
                        .map(|event| event.notification_id)
                        .collect();
                    let started = Instant::now();
                    let outcomes = send_notifications(db, channels, policy, limits, silencer, &ids)
                        .await
                        .expect("sent");
                    total += started.elapsed();
                    assert!(
                        outcomes.len() == NOTIFICATIONS
                            && outcomes.iter().all(|(_, o)| {
                                *o == SendOutcome::Finished(NotificationStatus::Sent)
                            }),
                        "every notification delivered: {outcomes:?}"
                    );
                }
                total
            }
        })
    });
    group.finish();
    rt.block_on(database.drop());
}

criterion_group!(benches, aggregator_insert, sender_loop);
criterion_main!(benches);
