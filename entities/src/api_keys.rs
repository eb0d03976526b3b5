//! `api_keys`: client keys, stored as hashes, with their scopes.

use sea_orm::entity::prelude::*;

/// A client's API key. The key itself is shown once, when it is made; only its SHA-256
/// (hex) is kept, with its first characters to tell keys apart in a list.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: String,
    pub name: Option<String>,
    /// Comma-separated: `manage` (the client's rules, endpoints and notifications),
    /// `ingest` (posting alerts).
    pub scopes: String,
    pub key_hash: String,
    pub key_prefix: String,
    /// An ingest key of the shared feed: its alerts belong to no client and every
    /// client's rules see them. Only the admin makes one.
    pub shared: bool,
    pub created_at: DateTimeUtc,
    /// Set when revoked; a revoked key is refused.
    pub revoked_at: Option<DateTimeUtc>,
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
}

impl Related<super::clients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Client.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
