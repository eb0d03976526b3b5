//! `deliveries`: one row per (notification, endpoint, phase), with its attempts and
//! outcome.

use sea_orm::entity::prelude::*;

/// One row per notification × endpoint × phase, updated by every attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub notification_id: Uuid,
    pub endpoint_id: Uuid,
    pub kind: String,
    pub target: String,
    /// RETRYING, DELIVERED or FAILED.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub last_http_status: Option<i32>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// What was delivered: `firing` (the notification) or `resolved` (its resolution).
    pub phase: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::notifications::Entity",
        from = "Column::NotificationId",
        to = "super::notifications::Column::Id",
        on_delete = "Cascade"
    )]
    Notification,
    #[sea_orm(
        belongs_to = "super::endpoints::Entity",
        from = "Column::EndpointId",
        to = "super::endpoints::Column::Id",
        on_delete = "Cascade"
    )]
    Endpoint,
}

impl Related<super::notifications::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Notification.def()
    }
}

impl Related<super::endpoints::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Endpoint.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
