//! Acknowledging: a person (or the tool they answered from) has a notification. The
//! first acknowledgement stands; an acknowledged notification repeats no more, not even
//! a repeat announced already.

use alerting_entities::notifications;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};

/// Acknowledges what `update` selects (the unacknowledged among it), by `who`; returns
/// how many it acknowledged.
pub async fn acknowledge<C: ConnectionTrait>(
    db: &C,
    update: sea_orm::UpdateMany<notifications::Entity>,
    who: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(update
        .col_expr(notifications::Column::AcknowledgedAt, Expr::value(now))
        .col_expr(notifications::Column::AcknowledgedBy, Expr::value(who))
        .col_expr(
            notifications::Column::NextRepeatAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(
            notifications::Column::RepeatStatus,
            super::resolve::not_repeating(),
        )
        .col_expr(notifications::Column::UpdatedAt, Expr::value(now))
        .filter(notifications::Column::AcknowledgedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Acknowledges the client's open notification with dedup key `key`, if it has one.
pub async fn acknowledge_key<C: ConnectionTrait>(
    db: &C,
    client: &str,
    key: &str,
    who: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let update = notifications::Entity::update_many()
        .filter(notifications::Column::ClientId.eq(client))
        .filter(notifications::Column::OpenKey.eq(key))
        .filter(notifications::Column::ResolvedAt.is_null());
    acknowledge(db, update, who, now).await
}
