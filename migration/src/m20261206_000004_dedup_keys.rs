//! Dedup keys: a notification may carry its alert's dedup key, and while it is open its
//! `open_key` holds that key too; a unique index on (client_id, open_key) is what makes
//! "one open notification per client and key" hold across batches, aggregator
//! instances and redeliveries. It is partial (`WHERE open_key IS NOT NULL`): closed
//! notifications and alerts without a key are not in it at all. The alerts folded into a notification are rows of
//! `occurrences`, keyed by (client, alert), so a redelivered alert is not counted twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    Id,
    ClientId,
    DedupKey,
    OpenKey,
    Occurrences,
    FirstSeenAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Occurrences {
    Table,
    ClientId,
    AlertId,
    NotificationId,
    EventTs,
    SeenAt,
}

/// The name the tests drop to show that the index, not the code, keeps keys unique.
pub const OPEN_KEY_INDEX: &str = "uq_notifications_client_open_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A column added to rows that exist takes a constant default or none.
        crate::add_columns(
            manager,
            Notifications::Table,
            [
                string_len_null(Notifications::DedupKey, 255),
                string_len_null(Notifications::OpenKey, 255),
                integer(Notifications::Occurrences).default(1).to_owned(),
                timestamp_with_time_zone_null(Notifications::FirstSeenAt),
                timestamp_with_time_zone_null(Notifications::LastSeenAt),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(OPEN_KEY_INDEX)
                    .table(Notifications::Table)
                    .col(Notifications::ClientId)
                    .col(Notifications::OpenKey)
                    .unique()
                    // Partial: rows without an open key (most of them) cost the index
                    // nothing on insert.
                    .and_where(Expr::col(Notifications::OpenKey).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Occurrences::Table)
                    .col(string_len(Occurrences::ClientId, 64))
                    .col(string_len(Occurrences::AlertId, 255))
                    .col(uuid(Occurrences::NotificationId))
                    .col(timestamp_with_time_zone(Occurrences::EventTs))
                    .col(timestamp_with_time_zone(Occurrences::SeenAt))
                    .primary_key(
                        Index::create()
                            .col(Occurrences::ClientId)
                            .col(Occurrences::AlertId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_occurrences_notification")
                            .from(Occurrences::Table, Occurrences::NotificationId)
                            .to(Notifications::Table, Notifications::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A notification's occurrences, newest first, and the cascade from a deleted one.
        manager
            .create_index(
                Index::create()
                    .name("ix_occurrences_notification")
                    .table(Occurrences::Table)
                    .col(Occurrences::NotificationId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Occurrences::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OPEN_KEY_INDEX)
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        crate::drop_columns(
            manager,
            Notifications::Table,
            [
                Notifications::LastSeenAt,
                Notifications::FirstSeenAt,
                Notifications::Occurrences,
                Notifications::OpenKey,
                Notifications::DedupKey,
            ],
        )
        .await
    }
}
