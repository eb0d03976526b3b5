//! Schema migrations. Every migration runs on Postgres and SQLite, written with
//! sea-query's portable column types; the one thing SQLite cannot alter, a table's
//! UNIQUE constraint, is changed by rebuilding the table (000006).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial_schema;
mod m20261127_000002_api_keys;
mod m20261206_000003_alert_owners;
mod m20261206_000004_dedup_keys;
mod m20261206_000005_acknowledgements;
mod m20261206_000006_resolutions;
mod m20261206_000007_silences;
mod m20261206_000008_repeats;
mod m20261207_000009_label_mappings;

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
            Box::new(m20261206_000006_resolutions::Migration),
            Box::new(m20261206_000007_silences::Migration),
            Box::new(m20261206_000008_repeats::Migration),
            Box::new(m20261207_000009_label_mappings::Migration),
        ]
    }
}

/// Adds `columns` to `table`, a statement each: SQLite alters one column per statement.
pub(crate) async fn add_columns(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + Clone,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops `columns` of `table`, a statement each, as `add_columns` added them.
pub(crate) async fn drop_columns<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + Clone,
    columns: impl IntoIterator<Item = C>,
) -> Result<(), DbErr> {
    for column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
