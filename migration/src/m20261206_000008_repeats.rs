//! Repeats and auto-resolve: a rule may set `repeat_interval` (an open, unacknowledged
//! notification is delivered again once per interval) and `auto_resolve_after` (a
//! notification with no occurrence for that long resolves itself). A notification
//! carries the intervals of its rules from when it was made, when it repeats next, how
//! many repeats it has had and the latest one's delivery status.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Rules {
    Table,
    RepeatIntervalSeconds,
    AutoResolveAfterSeconds,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    RepeatIntervalSeconds,
    AutoResolveAfterSeconds,
    NextRepeatAt,
    Repeats,
    RepeatStatus,
    ResolvedAt,
    LastSeenAt,
}

/// The repeat job's lookup: the few notifications due to repeat, by when.
const NEXT_REPEATS: &str = "ix_notifications_next_repeat";
/// The auto-resolve job's: the open notifications that may resolve themselves, by how
/// long they have been quiet.
const AUTO_RESOLVING: &str = "ix_notifications_auto_resolving";
/// The redrive's: repeats still to deliver.
const PENDING_REPEATS: &str = "ix_notifications_repeat_pending";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::add_columns(
            manager,
            Rules::Table,
            [
                integer_null(Rules::RepeatIntervalSeconds),
                integer_null(Rules::AutoResolveAfterSeconds),
            ],
        )
        .await?;
        crate::add_columns(
            manager,
            Notifications::Table,
            [
                integer_null(Notifications::RepeatIntervalSeconds),
                integer_null(Notifications::AutoResolveAfterSeconds),
                timestamp_with_time_zone_null(Notifications::NextRepeatAt),
                integer(Notifications::Repeats).default(0).to_owned(),
                string_len_null(Notifications::RepeatStatus, 16),
            ],
        )
        .await?;
        // Partial: only the notifications that repeat, resolve themselves, or have a
        // repeat to deliver.
        manager
            .create_index(
                Index::create()
                    .name(NEXT_REPEATS)
                    .table(Notifications::Table)
                    .col(Notifications::NextRepeatAt)
                    .and_where(Expr::col(Notifications::NextRepeatAt).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(AUTO_RESOLVING)
                    .table(Notifications::Table)
                    .col(Notifications::LastSeenAt)
                    .and_where(Expr::col(Notifications::AutoResolveAfterSeconds).is_not_null())
                    .and_where(Expr::col(Notifications::ResolvedAt).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PENDING_REPEATS)
                    .table(Notifications::Table)
                    .col(Notifications::RepeatStatus)
                    .and_where(Expr::col(Notifications::RepeatStatus).eq("PENDING"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [NEXT_REPEATS, AUTO_RESOLVING, PENDING_REPEATS] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Notifications::Table)
                        .to_owned(),
                )
                .await?;
        }
        crate::drop_columns(
            manager,
            Notifications::Table,
            [
                Notifications::RepeatStatus,
                Notifications::Repeats,
                Notifications::NextRepeatAt,
                Notifications::AutoResolveAfterSeconds,
                Notifications::RepeatIntervalSeconds,
            ],
        )
        .await?;
        crate::drop_columns(
            manager,
            Rules::Table,
            [Rules::AutoResolveAfterSeconds, Rules::RepeatIntervalSeconds],
        )
        .await
    }
}
