//! alert-producer: takes alerts over HTTP (and generates load) and publishes them on
//! `alerts.new`. Client keys are checked against the database when there is one.

use alerting_handlers::{
    events::topics,
    http::alert_producer::{AlertProducerSettings, router},
};

use super::{Backends, Need, Needs, Started, backends};
use crate::{config::Settings, error::StartError, runners::shutdown::Shutdown};

pub const NEEDS: Needs = Needs {
    service: "alert-producer",
    database: Need::Optional,
    kafka: Need::Required,
    redis: Need::No,
    topics: &[topics::ALERTS_NEW],
    admin_token: true,
};

pub async fn start(
    settings: &Settings,
    backends: &Backends,
    shutdown: Shutdown,
) -> Result<Started, StartError> {
    let bus = backends.bus(NEEDS.service)?;
    // Client keys live in the database; without one, only the admin token is taken.
    let keys = backends.optional_db();
    if keys.is_none() {
        tracing::warn!(
            "alert-producer: no DATABASE_URL, so client API keys cannot be checked; only the admin token is taken"
        );
    }
    let listener = backends::bind(
        settings.alert_producer.alert_producer_addr,
        "ALERT_PRODUCER_ADDR",
    )
    .await?;
    let service_settings = AlertProducerSettings {
        admin_token: backends.admin_token(NEEDS.service)?,
        keys,
        ingest_rate_limit: settings.auth.ingest_rate_limit,
    };
    Ok(Started::http(
        NEEDS.service,
        listener,
        router(bus, service_settings),
        settings,
        backends,
        shutdown,
        async {},
    ))
}
