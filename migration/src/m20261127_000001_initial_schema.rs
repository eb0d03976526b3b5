//! Clients, their rules and endpoints, the notifications and deliveries made for them,
//! and the outbox that carries rule changes to `rule.changed`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Rules {
    Table,
    Id,
    ClientId,
    Severity,
    Source,
    Name,
    Enabled,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Endpoints {
    Table,
    Id,
    RuleId,
    Kind,
    Value,
    Secret,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    ClientId,
    AlertId,
    Severity,
    Source,
    Name,
    Context,
    EventTs,
    RuleIds,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    NotificationId,
    EndpointId,
    Kind,
    Target,
    Status,
    Attempts,
    LastError,
    LastHttpStatus,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    RuleId,
    ClientId,
    Action,
    Version,
    UpdatedAt,
    CreatedAt,
    PublishedAt,
}

fn index(name: &str, table: impl IntoIden, columns: &[&'static str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(Alias::new(*column));
    }
    statement.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(string_len(Clients::Id, 64).primary_key())
                    .col(string_len_null(Clients::Name, 255))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .col(timestamp_with_time_zone(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Rules::Table)
                    .col(uuid(Rules::Id).primary_key())
                    .col(string_len(Rules::ClientId, 64))
                    .col(string_len(Rules::Severity, 16))
                    .col(string_len(Rules::Source, 255))
                    .col(string_len(Rules::Name, 255))
                    .col(boolean(Rules::Enabled))
                    .col(integer(Rules::Version))
                    .col(timestamp_with_time_zone(Rules::CreatedAt))
                    .col(timestamp_with_time_zone(Rules::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rules_client")
                            .from(Rules::Table, Rules::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_rules_client_severity_source_name")
                            .col(Rules::ClientId)
                            .col(Rules::Severity)
                            .col(Rules::Source)
                            .col(Rules::Name)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Endpoints::Table)
                    .col(uuid(Endpoints::Id).primary_key())
                    .col(uuid(Endpoints::RuleId))
                    .col(string_len(Endpoints::Kind, 16))
                    .col(text(Endpoints::Value))
                    .col(text_null(Endpoints::Secret))
                    .col(boolean(Endpoints::Enabled))
                    .col(timestamp_with_time_zone(Endpoints::CreatedAt))
                    .col(timestamp_with_time_zone(Endpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_endpoints_rule")
                            .from(Endpoints::Table, Endpoints::RuleId)
                            .to(Rules::Table, Rules::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_endpoints_rule_kind_value")
                            .col(Endpoints::RuleId)
                            .col(Endpoints::Kind)
                            .col(Endpoints::Value)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(uuid(Notifications::Id).primary_key())
                    .col(string_len(Notifications::ClientId, 64))
                    .col(string_len(Notifications::AlertId, 255))
                    .col(string_len(Notifications::Severity, 16))
                    .col(string_len(Notifications::Source, 255))
                    .col(string_len(Notifications::Name, 255))
                    .col(json_binary(Notifications::Context))
                    .col(timestamp_with_time_zone(Notifications::EventTs))
                    .col(json_binary(Notifications::RuleIds))
                    .col(string_len(Notifications::Status, 16))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone(Notifications::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_client")
                            .from(Notifications::Table, Notifications::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_notifications_client_alert")
                            .col(Notifications::ClientId)
                            .col(Notifications::AlertId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(uuid(Deliveries::Id).primary_key())
                    .col(uuid(Deliveries::NotificationId))
                    .col(uuid(Deliveries::EndpointId))
                    // The channel and target as they were when delivered, so the record
                    // still reads true after the endpoint is edited.
                    .col(string_len(Deliveries::Kind, 16))
                    .col(text(Deliveries::Target))
                    .col(string_len(Deliveries::Status, 16))
                    .col(integer(Deliveries::Attempts))
                    .col(text_null(Deliveries::LastError))
                    .col(integer_null(Deliveries::LastHttpStatus))
                    .col(timestamp_with_time_zone_null(Deliveries::DeliveredAt))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .col(timestamp_with_time_zone(Deliveries::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_notification")
                            .from(Deliveries::Table, Deliveries::NotificationId)
                            .to(Notifications::Table, Notifications::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_endpoint")
                            .from(Deliveries::Table, Deliveries::EndpointId)
                            .to(Endpoints::Table, Endpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_deliveries_notification_endpoint")
                            .col(Deliveries::NotificationId)
                            .col(Deliveries::EndpointId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    // No foreign key: a deleted rule still owes the world its DELETED event.
                    .col(uuid(Outbox::RuleId))
                    .col(string_len(Outbox::ClientId, 64))
                    .col(string_len(Outbox::Action, 16))
                    .col(integer(Outbox::Version))
                    .col(timestamp_with_time_zone(Outbox::UpdatedAt))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::PublishedAt))
                    .to_owned(),
            )
            .await?;

        // One index per list filter, each ending in created_at because lists are newest first.
        let indexes = [
            index("ix_clients_created", Clients::Table, &["created_at"]),
            index("ix_rules_created", Rules::Table, &["created_at"]),
            index(
                "ix_rules_client_created",
                Rules::Table,
                &["client_id", "created_at"],
            ),
            index(
                "ix_rules_enabled_created",
                Rules::Table,
                &["enabled", "created_at"],
            ),
            index(
                "ix_endpoints_rule_created",
                Endpoints::Table,
                &["rule_id", "created_at"],
            ),
            index(
                "ix_notifications_created",
                Notifications::Table,
                &["created_at"],
            ),
            index(
                "ix_notifications_client_created",
                Notifications::Table,
                &["client_id", "created_at"],
            ),
            index(
                "ix_notifications_status_created",
                Notifications::Table,
                &["status", "created_at"],
            ),
            index(
                "ix_notifications_alert",
                Notifications::Table,
                &["alert_id"],
            ),
            // The cascade from a deleted endpoint looks deliveries up by endpoint.
            index(
                "ix_deliveries_endpoint",
                Deliveries::Table,
                &["endpoint_id"],
            ),
            // The relay reads unpublished rows in order.
            index(
                "ix_outbox_published_id",
                Outbox::Table,
                &["published_at", "id"],
            ),
        ];
        for statement in indexes {
            manager.create_index(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Outbox::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Notifications::Table.into_iden(),
            Endpoints::Table.into_iden(),
            Rules::Table.into_iden(),
            Clients::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
