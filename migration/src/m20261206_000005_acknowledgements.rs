//! Acknowledgements: who acknowledged a notification ("admin", or an API key's name)
//! and when. An acknowledged notification is a person's: it is not repeated.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    AcknowledgedAt,
    AcknowledgedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_columns(
            manager,
            Notifications::Table,
            [
                timestamp_with_time_zone_null(Notifications::AcknowledgedAt),
                string_len_null(Notifications::AcknowledgedBy, 255),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_columns(
            manager,
            Notifications::Table,
            [Notifications::AcknowledgedBy, Notifications::AcknowledgedAt],
        )
        .await
    }
}
