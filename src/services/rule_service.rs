//! rule-service: clients, rules, endpoints, keys and notifications over REST, on the
//! database. Writes to rules put a change in the outbox in the same transaction (the
//! rule-updater relays it); retrying a notification announces it on the bus.

use std::sync::Arc;

use alerting_handlers::{
    history::History,
    http::rule_service::{RuleServiceSettings, TargetPolicy, router},
    metrics::metrics,
};
use chrono::Utc;

use super::{Context, Need, Needs, Started, backends};
use crate::{
    adapters::channels::Channels, config::TargetConfig, error::StartError,
    runners::shutdown::Shutdown,
};

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
        channel: Some(Arc::new(Channels::new(
            &settings.delivery,
            settings.targets.allow_private_endpoints,
        )?)),
        history: Some(history(cx.shutdown.clone())),
        whole_platform: cx.backends.is_embedded(),
    };
    let router = router(db.clone(), service_settings);
    Ok(cx.http(listener, router, async move {
        db.close().await.ok();
    }))
}

/// The process's counters, read now and once a minute until shutdown.
fn history(shutdown: Shutdown) -> Arc<History> {
    let history = Arc::new(History::default());
    history.record(metrics(), Utc::now());
    let kept = history.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(alerting_handlers::history::EVERY);
        every.tick().await;
        let stopped = shutdown.wait();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = every.tick() => kept.record(metrics(), Utc::now()),
                () = &mut stopped => return,
            }
        }
    });
    history
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
