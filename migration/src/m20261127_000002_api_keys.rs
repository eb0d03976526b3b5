//! Per-client API keys. Only a SHA-256 of each key is kept: a key carries 244 random
//! bits, so a fast hash is as good as a slow one, and lookups stay one indexed read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    ClientId,
    Name,
    Scopes,
    KeyHash,
    KeyPrefix,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(uuid(ApiKeys::Id).primary_key())
                    .col(string_len(ApiKeys::ClientId, 64))
                    .col(string_len_null(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Scopes, 64))
                    .col(string_len(ApiKeys::KeyHash, 64))
                    .col(string_len(ApiKeys::KeyPrefix, 16))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_client")
                            .from(ApiKeys::Table, ApiKeys::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_api_keys_key_hash")
                            .col(ApiKeys::KeyHash)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_keys_client")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::ClientId)
                    .col(ApiKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}
