//! Schema migrations. Every migration runs unchanged on Postgres and SQLite, so it is
//! written with sea-query's portable column types only.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial_schema;
mod m20261127_000002_api_keys;
mod m20261206_000003_alert_owners;
mod m20261206_000004_dedup_keys;
mod m20261206_000005_acknowledgements;

pub use m20261206_000004_dedup_keys::OPEN_KEY_INDEX;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial_schema::Migration),
            Box::new(m20261127_000002_api_keys::Migration),
            Box::new(m20261206_000003_alert_owners::Migration),
            Box::new(m20261206_000004_dedup_keys::Migration),
            Box::new(m20261206_000005_acknowledgements::Migration),
        ]
    }
}
