//! Assembling services from configuration: what `up` and `serve` start.

use tokio::net::TcpListener;

use crate::{
    config::{DatabaseConfig, RuleServiceConfig},
    db::{self, Backend, DbSetupError},
    runners::{self, shutdown::Shutdown},
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("cannot listen on {addr} (set {variable} to another address): {source}")]
    Listen {
        addr: std::net::SocketAddr,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("the {service} server failed: {source}")]
    Serve {
        service: &'static str,
        source: std::io::Error,
    },
}

/// Everything in one process. With no configuration: SQLite under DATA_DIR, migrated
/// on start.
pub async fn up(
    database: &DatabaseConfig,
    rule_service: &RuleServiceConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let (db, backend) = db::connect(database).await?;
    let applied = db::migrate(&db).await?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    let listener = bind(rule_service).await?;
    let mode = if backend.is_embedded() {
        "embedded"
    } else {
        "distributed"
    };
    tracing::info!(
        "alerting up ({mode}): rule-service on http://{}, database {backend}; Ctrl-C to stop",
        local_addr(&listener, rule_service)
    );
    serve_rule_service(listener, db, shutdown).await
}

/// The rule-service alone, as its ECS service runs it. Migrations are a separate,
/// one-off step (`alerting migrate`).
pub async fn serve_rule_service_from_config(
    database: &DatabaseConfig,
    rule_service: &RuleServiceConfig,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let (db, backend) = db::connect(database).await?;
    db::require_current_schema(&db).await?;
    let listener = bind(rule_service).await?;
    tracing::info!(
        "rule-service on http://{}, database {backend}",
        local_addr(&listener, rule_service)
    );
    serve_rule_service(listener, db, shutdown).await
}

/// `alerting migrate`: applies pending migrations and reports what it did.
pub async fn migrate(database: &DatabaseConfig) -> Result<(usize, Backend), StartError> {
    let (db, backend) = db::connect(database).await?;
    let applied = db::migrate(&db).await?;
    db.close().await.ok();
    Ok((applied, backend))
}

async fn bind(config: &RuleServiceConfig) -> Result<TcpListener, StartError> {
    TcpListener::bind(config.rule_service_addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.rule_service_addr,
            variable: "RULE_SERVICE_ADDR",
            source,
        })
}

fn local_addr(listener: &TcpListener, config: &RuleServiceConfig) -> std::net::SocketAddr {
    listener.local_addr().unwrap_or(config.rule_service_addr)
}

async fn serve_rule_service(
    listener: TcpListener,
    db: sea_orm::DatabaseConnection,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let router = alerting_handlers::http::rule_service::router(db.clone());
    runners::http::serve(listener, router, shutdown.wait())
        .await
        .map_err(|source| StartError::Serve {
            service: "rule-service",
            source,
        })?;
    db.close().await.ok();
    tracing::info!("rule-service stopped");
    Ok(())
}
