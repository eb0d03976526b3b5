//! `silences`: a client's silences and maintenance windows (a maintenance window is a
//! silence with a weekly recurrence).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "silences")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: String,
    /// The rules' grammar: a value, or `*`.
    pub severity: String,
    pub source: String,
    pub name: String,
    /// Context fields an alert must have, with these values: an object of strings.
    pub context: Json,
    pub starts_at: DateTimeUtc,
    /// None: until expired (a maintenance window may have no end).
    pub ends_at: Option<DateTimeUtc>,
    pub comment: Option<String>,
    pub created_by: String,
    /// A maintenance window's days ("mon,sat"), local start time ("22:00"), length and
    /// IANA time zone; all none for a one-off silence.
    pub recurrence_days: Option<String>,
    pub recurrence_start: Option<String>,
    pub recurrence_duration_seconds: Option<i32>,
    pub recurrence_time_zone: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
