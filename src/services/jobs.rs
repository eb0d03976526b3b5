//! The one-shot tasks (ECS scheduled or one-off tasks), on backends opened the same way
//! as a service's: `job redrive`, `job snapshot-rebuild` and `migrate`.

use alerting_handlers::jobs::redrive::redrive_all_stuck;

use super::{Backends, Need, Needs, rule_updater};
use crate::{
    app_role::AppRole,
    config::{DatabaseConfig, Settings},
    db::{self, Backend},
    error::StartError,
};

const REDRIVE: Needs = Needs {
    service: "redrive",
    database: Need::Required,
    kafka: Need::Required,
    redis: Need::No,
    topics: &[alerting_handlers::events::topics::NOTIFICATIONS_READY],
    admin_token: false,
};

const SNAPSHOT_REBUILD: Needs = Needs {
    service: "snapshot-rebuild",
    database: Need::Required,
    kafka: Need::No,
    redis: Need::Required,
    topics: &[],
    admin_token: false,
};

/// `alerting job redrive`: announces stuck notifications again; returns how many.
pub async fn redrive(settings: &Settings) -> Result<usize, StartError> {
    let backends = Backends::for_service(settings, &REDRIVE).await?;
    let db = backends.db(REDRIVE.service)?;
    let bus = backends.bus(REDRIVE.service)?;
    redrive_all_stuck(&db, bus.as_ref(), settings.delivery.redrive_after)
        .await
        .map_err(|err| StartError::Job(err.to_string()))
}

/// `alerting job snapshot-rebuild`: the version written, or None when a rule-updater
/// holds the lease (it rebuilds on its own schedule).
pub async fn snapshot_rebuild(settings: &Settings) -> Result<Option<u64>, StartError> {
    let backends = Backends::for_service(settings, &SNAPSHOT_REBUILD).await?;
    let db = backends.db(SNAPSHOT_REBUILD.service)?;
    rule_updater::rebuild_once(&db, backends.store.as_ref(), settings.matching.lease_ttl)
        .await
        .map_err(StartError::Job)
}

/// `alerting migrate`: applies pending migrations and, given the services' URL, makes
/// and grants their role; reports what it did (the role's name, when there is one).
pub async fn migrate(
    database: &DatabaseConfig,
    app_url: Option<&str>,
) -> Result<(usize, Backend, Option<String>), StartError> {
    // Checked before anything is changed.
    let role = app_url.map(AppRole::from_url).transpose()?;
    if let (Some(role), Some(owner_url)) = (&role, &database.database_url) {
        role.same_database_as(owner_url)?;
    }
    let (db, backend) = db::connect(database).await?;
    // The role first: it refuses the owner's own name before the schema changes.
    if let Some(role) = &role {
        role.ensure(&db).await?;
    }
    let applied = db::migrate(&db).await?;
    if let Some(role) = &role {
        role.grant(&db).await?;
    }
    db.close().await.ok();
    Ok((applied, backend, role.map(|role| role.name)))
}
