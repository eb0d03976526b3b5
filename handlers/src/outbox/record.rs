//! Outbox rows: every rule write records one in its own transaction; a relay publishes
//! them to `rule.changed` later.

use alerting_entities::{outbox, rules};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use crate::domain::RuleAction;

pub async fn record<C: ConnectionTrait>(
    db: &C,
    rule_id: Uuid,
    client_id: &str,
    action: RuleAction,
    version: i32,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    outbox::Entity::insert(outbox::ActiveModel {
        id: NotSet,
        rule_id: Set(rule_id),
        client_id: Set(client_id.to_owned()),
        action: Set(action.as_str().to_owned()),
        version: Set(version),
        updated_at: Set(at),
        created_at: Set(at),
        published_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Records a DELETED event for every rule of a client about to be deleted, in one
/// statement, so that no rule created meanwhile can slip past unannounced.
pub async fn record_client_deletion<C: ConnectionTrait>(
    db: &C,
    client_id: &str,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let deleted_rules = Query::select()
        .column(rules::Column::Id)
        .column(rules::Column::ClientId)
        .expr(Expr::val(RuleAction::Deleted.as_str()))
        .expr(Expr::col(rules::Column::Version).add(1))
        .expr(Expr::val(at))
        .expr(Expr::val(at))
        .from(rules::Entity)
        .and_where(rules::Column::ClientId.eq(client_id))
        .to_owned();
    let insert = Query::insert()
        .into_table(outbox::Entity)
        .columns([
            outbox::Column::RuleId,
            outbox::Column::ClientId,
            outbox::Column::Action,
            outbox::Column::Version,
            outbox::Column::UpdatedAt,
            outbox::Column::CreatedAt,
        ])
        .select_from(deleted_rules)
        .map_err(|err| DbErr::Custom(err.to_string()))?
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected())
}
