//! `notifications`: one row per (client, alert), unique on the pair, and at most one
//! open per (client, dedup key).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: String,
    pub alert_id: String,
    pub severity: String,
    pub source: String,
    pub name: String,
    /// The alert's context: an object of strings.
    pub context: Json,
    pub event_ts: DateTimeUtc,
    /// The ids of the client's rules that matched, as a JSON array.
    pub rule_ids: Json,
    /// PENDING, SENT, PARTIAL, FAILED, NO_ENDPOINTS or SILENCED.
    pub status: String,
    /// Whether the alert came from the shared feed (true) or the client posted it
    /// itself (false).
    pub shared: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The alert's dedup key, if it had one.
    pub dedup_key: Option<String>,
    /// The dedup key while the notification is open, else none: unique per client.
    pub open_key: Option<String>,
    /// Alerts it stands for: the first, and every one folded into it since.
    pub occurrences: i32,
    /// When its first and latest alerts arrived (none on rows stored before dedup keys:
    /// `created_at` then).
    pub first_seen_at: Option<DateTimeUtc>,
    pub last_seen_at: Option<DateTimeUtc>,
    /// When a person acknowledged it, and who ("admin", or an API key's name).
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<String>,
    /// When it was resolved, and by what: "alert <id>" (a resolved alert with its key),
    /// or "admin" or an API key's name (a person).
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_by: Option<String>,
    /// The resolution's delivery: none until resolved, then PENDING, SENT, PARTIAL,
    /// FAILED or NO_ENDPOINTS (no endpoint had taken the firing notification).
    pub resolution_status: Option<String>,
    /// The silence (or maintenance window) that kept it from being delivered.
    pub silenced_by: Option<Uuid>,
    /// Its rules' shortest `repeat_interval` and `auto_resolve_after` when it was made.
    pub repeat_interval_seconds: Option<i32>,
    pub auto_resolve_after_seconds: Option<i32>,
    /// When it is delivered again, while it repeats.
    pub next_repeat_at: Option<DateTimeUtc>,
    /// Repeats announced so far.
    pub repeats: i32,
    /// The latest repeat's delivery: PENDING, SENT, PARTIAL, FAILED, NO_ENDPOINTS or
    /// SILENCED; none before the first.
    pub repeat_status: Option<String>,
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
    #[sea_orm(has_many = "super::deliveries::Entity")]
    Deliveries,
    #[sea_orm(has_many = "super::occurrences::Entity")]
    Occurrences,
}

impl Related<super::clients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Client.def()
    }
}

impl Related<super::deliveries::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deliveries.def()
    }
}

impl Related<super::occurrences::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Occurrences.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
