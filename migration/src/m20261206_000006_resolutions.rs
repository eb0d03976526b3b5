//! Resolutions: a notification is resolved (by a resolved alert with its dedup key, or
//! by a person), and its resolution is delivered to every
//! endpoint that took the firing notification. So a delivery row is per (notification,
//! endpoint, phase), the phase being `firing` or `resolved`: each has its own attempts,
//! status and idempotency key. `resolution_status` is the resolution's delivery status
//! (PENDING until the sender is done), which the redrive watches as it watches
//! `status`. `resolves` records every resolved alert the aggregator has applied (and
//! what it closed, if anything), so that its redelivery is known and closes nothing.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    ResolvedAt,
    ResolvedBy,
    ResolutionStatus,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Resolves {
    Table,
    ClientId,
    AlertId,
    NotificationId,
    SeenAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Deliveries {
    Table,
    NotificationId,
    EndpointId,
    Phase,
}

/// The unique index a delivery row is upserted on.
const DELIVERY_INDEX: &str = "uq_deliveries_notification_endpoint_phase";
/// The redrive's: resolutions still to deliver, oldest first.
const PENDING_RESOLUTIONS: &str = "ix_notifications_resolution_pending";

/// SQLite cannot drop a table's UNIQUE constraint: the table is rebuilt with the new
/// one. `{phase}` is where the phase column goes, `{unique}` the constraint.
const SQLITE_DELIVERIES: &str = r#"CREATE TABLE "deliveries_next" ( "id" uuid_text NOT NULL PRIMARY KEY, "notification_id" uuid_text NOT NULL, "endpoint_id" uuid_text NOT NULL, "kind" varchar(16) NOT NULL, "target" text NOT NULL, "status" varchar(16) NOT NULL, "attempts" integer NOT NULL, "last_error" text NULL, "last_http_status" integer NULL, "delivered_at" timestamp_with_timezone_text NULL, "created_at" timestamp_with_timezone_text NOT NULL, "updated_at" timestamp_with_timezone_text NOT NULL{phase}, CONSTRAINT "{name}" UNIQUE ({unique}), FOREIGN KEY ("notification_id") REFERENCES "notifications" ("id") ON DELETE CASCADE ON UPDATE CASCADE, FOREIGN KEY ("endpoint_id") REFERENCES "endpoints" ("id") ON DELETE CASCADE ON UPDATE CASCADE )"#;
const SQLITE_COLUMNS: &str = r#""id", "notification_id", "endpoint_id", "kind", "target", "status", "attempts", "last_error", "last_http_status", "delivered_at", "created_at", "updated_at""#;

async fn rebuild_sqlite_deliveries(
    manager: &SchemaManager<'_>,
    with_phase: bool,
) -> Result<(), DbErr> {
    let (phase, name, unique, copy) = if with_phase {
        (
            r#", "phase" varchar(16) NOT NULL DEFAULT 'firing'"#,
            DELIVERY_INDEX,
            r#""notification_id", "endpoint_id", "phase""#,
            format!(
                r#"INSERT INTO "deliveries_next" ({SQLITE_COLUMNS}, "phase") SELECT {SQLITE_COLUMNS}, 'firing' FROM "deliveries""#
            ),
        )
    } else {
        (
            "",
            "uq_deliveries_notification_endpoint",
            r#""notification_id", "endpoint_id""#,
            format!(
                r#"INSERT INTO "deliveries_next" ({SQLITE_COLUMNS}) SELECT {SQLITE_COLUMNS} FROM "deliveries" WHERE "phase" = 'firing'"#
            ),
        )
    };
    let create = SQLITE_DELIVERIES
        .replace("{phase}", phase)
        .replace("{name}", name)
        .replace("{unique}", unique);
    // One call, so one connection of the pool runs them all, in one transaction.
    let script = [
        "BEGIN",
        create.as_str(),
        copy.as_str(),
        r#"DROP TABLE "deliveries""#,
        r#"ALTER TABLE "deliveries_next" RENAME TO "deliveries""#,
        r#"CREATE INDEX "ix_deliveries_endpoint" ON "deliveries" ("endpoint_id")"#,
        "COMMIT",
    ]
    .join(";\n");
    manager.get_connection().execute_unprepared(&script).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_columns(
            manager,
            Notifications::Table,
            [
                timestamp_with_time_zone_null(Notifications::ResolvedAt),
                // "alert <alert_id>": longer than an alert id.
                text_null(Notifications::ResolvedBy),
                string_len_null(Notifications::ResolutionStatus, 16),
            ],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(PENDING_RESOLUTIONS)
                    .table(Notifications::Table)
                    .col(Notifications::UpdatedAt)
                    // Partial: only the few resolutions still to deliver.
                    .and_where(Expr::col(Notifications::ResolutionStatus).eq("PENDING"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Resolves::Table)
                    .col(string_len(Resolves::ClientId, 64))
                    .col(string_len(Resolves::AlertId, 255))
                    .col(uuid_null(Resolves::NotificationId))
                    .col(timestamp_with_time_zone(Resolves::SeenAt))
                    .primary_key(
                        Index::create()
                            .col(Resolves::ClientId)
                            .col(Resolves::AlertId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_resolves_client")
                            .from(Resolves::Table, Resolves::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            return rebuild_sqlite_deliveries(manager, true).await;
        }
        crate::add_columns(
            manager,
            Deliveries::Table,
            [string_len(Deliveries::Phase, 16)
                .default("firing")
                .to_owned()],
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                r#"ALTER TABLE "deliveries" DROP CONSTRAINT "uq_deliveries_notification_endpoint""#,
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(DELIVERY_INDEX)
                    .table(Deliveries::Table)
                    .col(Deliveries::NotificationId)
                    .col(Deliveries::EndpointId)
                    .col(Deliveries::Phase)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Resolves::Table).to_owned())
            .await?;
        if manager.get_database_backend() == DbBackend::Sqlite {
            rebuild_sqlite_deliveries(manager, false).await?;
        } else {
            let db = manager.get_connection();
            for statement in [
                r#"DELETE FROM "deliveries" WHERE "phase" <> 'firing'"#,
                r#"DROP INDEX "uq_deliveries_notification_endpoint_phase""#,
                r#"ALTER TABLE "deliveries" ADD CONSTRAINT "uq_deliveries_notification_endpoint" UNIQUE ("notification_id", "endpoint_id")"#,
                r#"ALTER TABLE "deliveries" DROP COLUMN "phase""#,
            ] {
                db.execute_unprepared(statement).await?;
            }
        }
        manager
            .drop_index(
                Index::drop()
                    .name(PENDING_RESOLUTIONS)
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        crate::drop_columns(
            manager,
            Notifications::Table,
            [
                Notifications::ResolutionStatus,
                Notifications::ResolvedBy,
                Notifications::ResolvedAt,
            ],
        )
        .await
    }
}
