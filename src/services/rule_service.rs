//! rule-service: clients, rules, endpoints, keys and notifications over REST, on the
//! database. Writes to rules put a change in the outbox in the same transaction (the
//! rule-updater relays it); retrying a notification announces it on the bus.

use alerting_handlers::http::rule_service::{RuleServiceSettings, TargetPolicy, router};

use super::{Context, Need, Needs, Started, backends};
use crate::{config::TargetConfig, error::StartError};

/// Migrations are a separate, one-off step on its own (`alerting migrate`); the bus is
/// only for retries, which say so without it.
pub const NEEDS: Needs = Needs {
    service: "rule-service",
    database: Need::Required,
    kafka: Need::Optional,
    redis: Need::No,
    topics: &[],
    admin_token: true,
};

pub async fn start(cx: Context<'_>) -> Result<Started, StartError> {
    let settings = cx.settings;
    let db = cx.db()?;
    let listener =
        backends::bind(settings.rule_service.rule_service_addr, "RULE_SERVICE_ADDR").await?;
    let service_settings = RuleServiceSettings {
        admin_token: cx.admin_token()?,
        targets: target_policy(&settings.targets),
        bus: cx.backends.optional_bus(),
        quotas: settings.rule_service.quotas.quotas(),
        write_rate_limit: settings.rule_service.quotas.write_rate_limit,
    };
    let router = router(db.clone(), service_settings);
    Ok(cx.http(listener, router, async move {
        db.close().await.ok();
    }))
}

/// Which addresses endpoints may name; saying so when private ones are allowed.
pub fn target_policy(config: &TargetConfig) -> TargetPolicy {
    if config.allow_private_endpoints {
        tracing::warn!(
            "ALLOW_PRIVATE_ENDPOINTS is on: endpoints may name loopback and private addresses"
        );
    }
    TargetPolicy {
        allow_private: config.allow_private_endpoints,
    }
}
