//! `outbox`: rule changes waiting to be relayed to `rule.changed`.

use sea_orm::entity::prelude::*;

/// A rule change waiting to be published to `rule.changed`; written in the same
/// transaction as the change itself.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub rule_id: Uuid,
    pub client_id: String,
    /// CREATED, UPDATED, ENABLED, DISABLED or DELETED.
    pub action: String,
    pub version: i32,
    pub updated_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
