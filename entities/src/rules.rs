//! `rules`: a client's rules, versioned.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: String,
    /// LOW, MEDIUM, HIGH, CRITICAL or `*`.
    pub severity: String,
    /// An exact source or `*`.
    pub source: String,
    /// An exact name or `*`.
    pub name: String,
    pub enabled: bool,
    /// Starts at 1 and grows by one with every write (optimistic concurrency).
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Deliver an open, unacknowledged notification of the rule again this often.
    pub repeat_interval_seconds: Option<i32>,
    /// Resolve a notification of the rule that has had no occurrence for this long.
    pub auto_resolve_after_seconds: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::clients::Entity",
        from = "Column::ClientId",
        to = "super::clients::Column::Id",
        on_delete = "Cascade"
    )]
    Client,
    #[sea_orm(has_many = "super::endpoints::Entity")]
    Endpoints,
}

impl Related<super::clients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Client.def()
    }
}

impl Related<super::endpoints::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Endpoints.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
