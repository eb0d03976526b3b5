//! The outbox relay: publishes rule changes recorded by the rule-service to
//! `rule.changed`, then marks them published. A crash between the two publishes
//! them again, which consumers take in their stride (at least once).

use alerting_entities::outbox;
use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use crate::{
    events::{RuleChangedEvent, SCHEMA_VERSION},
    ports::{Bus, BusError},
};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading or marking the outbox failed: {0}")]
    Database(#[from] DbErr),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Publishes up to `batch` unpublished rows, oldest first; returns how many.
pub async fn relay_outbox<C: ConnectionTrait>(
    db: &C,
    bus: &dyn Bus,
    batch: u64,
) -> Result<usize, RelayError> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(batch)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let messages = rows
        .iter()
        .map(|row| {
            RuleChangedEvent {
                schema_version: SCHEMA_VERSION,
                rule_id: row.rule_id,
                client_id: row.client_id.clone(),
                action: row.action.clone(),
                version: row.version,
                updated_at: row.updated_at,
            }
            .message()
        })
        .collect();
    bus.publish(messages).await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
        .filter(outbox::Column::Id.is_in(rows.iter().map(|row| row.id)))
        .exec(db)
        .await?;
    Ok(rows.len())
}
