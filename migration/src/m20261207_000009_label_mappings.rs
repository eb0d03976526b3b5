//! A client's label mapping: which labels of a Prometheus-style label set give its
//! alerts' severity, source and name (JSON; null for Prometheus's conventions).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    LabelMapping,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_columns(manager, Clients::Table, [text_null(Clients::LabelMapping)]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_columns(manager, Clients::Table, [Clients::LabelMapping]).await
    }
}
