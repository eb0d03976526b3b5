//! Silences and maintenance windows: a client's matchers (severity, source, name in the
//! rules' grammar, and context fields), the period they apply in, and for a maintenance
//! window the weekly times within it. A notification a silence caught records its id
//! (`silenced_by`) and is not delivered.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Silences {
    Table,
    Id,
    ClientId,
    Severity,
    Source,
    Name,
    Context,
    StartsAt,
    EndsAt,
    Comment,
    CreatedBy,
    RecurrenceDays,
    RecurrenceStart,
    RecurrenceDurationSeconds,
    RecurrenceTimeZone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    SilencedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Silences::Table)
                    .col(uuid(Silences::Id).primary_key())
                    .col(string_len(Silences::ClientId, 64))
                    .col(string_len(Silences::Severity, 16))
                    .col(string_len(Silences::Source, 255))
                    .col(string_len(Silences::Name, 255))
                    .col(json_binary(Silences::Context))
                    .col(timestamp_with_time_zone(Silences::StartsAt))
                    .col(timestamp_with_time_zone_null(Silences::EndsAt))
                    .col(text_null(Silences::Comment))
                    .col(string_len(Silences::CreatedBy, 255))
                    .col(string_len_null(Silences::RecurrenceDays, 32))
                    .col(string_len_null(Silences::RecurrenceStart, 5))
                    .col(integer_null(Silences::RecurrenceDurationSeconds))
                    .col(string_len_null(Silences::RecurrenceTimeZone, 64))
                    .col(timestamp_with_time_zone(Silences::CreatedAt))
                    .col(timestamp_with_time_zone(Silences::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_silences_client")
                            .from(Silences::Table, Silences::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Lists (a client's, newest first), and the sender's reload of the ones not
        // ended (by end).
        for (name, columns) in [
            (
                "ix_silences_client_created",
                [Silences::ClientId, Silences::CreatedAt],
            ),
            ("ix_silences_ends", [Silences::EndsAt, Silences::StartsAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Silences::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        crate::add_columns(
            manager,
            Notifications::Table,
            [uuid_null(Notifications::SilencedBy)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::drop_columns(manager, Notifications::Table, [Notifications::SilencedBy]).await?;
        manager
            .drop_table(Table::drop().table(Silences::Table).to_owned())
            .await
    }
}
