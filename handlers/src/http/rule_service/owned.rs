//! Rows a client owns, found by the id in a path. Each is visible to the admin token
//! and to its own client's keys; to any other key it is as unknown as a missing one,
//! so a 404 never tells a tenant what another tenant has.

use alerting_entities::{notifications, rules, silences};
use sea_orm::{EntityTrait, PrimaryKeyTrait};
use uuid::Uuid;

use super::{AppState, parse_uuid};
use crate::http::{
    ApiError,
    auth::{Principal, Scope},
};

/// A table whose rows belong to one client each, keyed by a UUID.
pub(crate) trait Owned: EntityTrait {
    /// What the API calls a row, in a 404's message.
    const WHAT: &'static str;
    fn owner(row: &Self::Model) -> &str;
}

impl Owned for rules::Entity {
    const WHAT: &'static str = "rule";
    fn owner(row: &rules::Model) -> &str {
        &row.client_id
    }
}

impl Owned for notifications::Entity {
    const WHAT: &'static str = "notification";
    fn owner(row: &notifications::Model) -> &str {
        &row.client_id
    }
}

impl Owned for silences::Entity {
    const WHAT: &'static str = "silence";
    fn owner(row: &silences::Model) -> &str {
        &row.client_id
    }
}

/// The row `id` names, if the caller (with the `manage` scope) may see it.
pub(crate) async fn find_owned<E>(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<E::Model, ApiError>
where
    E: Owned,
    Uuid: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    principal.require(Scope::Manage)?;
    let key = parse_uuid(E::WHAT, id)?;
    E::find_by_id(key)
        .one(&state.db)
        .await?
        .filter(|row| principal.sees(E::owner(row)))
        .ok_or_else(|| ApiError::not_found(E::WHAT, id))
}
