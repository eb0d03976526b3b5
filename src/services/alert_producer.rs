//! alert-producer: takes alerts over HTTP (and generates load) and publishes them on
//! `alerts.new`. Client keys are checked against the database when there is one.

use std::sync::Arc;

use alerting_handlers::{
    backpressure::BackPressure,
    events::topics,
    http::alert_producer::{AlertProducerSettings, router},
    integrations::sns::Sns,
};

use super::{Context, Need, Needs, Started, backends};
use crate::{adapters::sns_fetch::HttpsFetch, error::StartError};

pub const NEEDS: Needs = Needs {
    service: "alert-producer",
    database: Need::Optional,
    kafka: Need::Required,
    redis: Need::No,
    topics: &[topics::ALERTS_NEW],
    admin_token: true,
};

pub async fn start(cx: Context<'_>) -> Result<Started, StartError> {
    let bus = cx.bus()?;
    // Client keys live in the database; without one, only the admin token is taken.
    let keys = cx.backends.optional_db();
    if keys.is_none() {
        tracing::warn!(
            "alert-producer: no DATABASE_URL, so client API keys cannot be checked; only the admin token is taken"
        );
    }
    let listener = backends::bind(
        cx.settings.alert_producer.alert_producer_addr,
        "ALERT_PRODUCER_ADDR",
    )
    .await?;
    let config = &cx.settings.alert_producer;
    // Embedded, the bus log counts the pipeline's backlog; with Kafka, Kafka keeps it.
    let backpressure = cx
        .backends
        .embedded_bus()
        .filter(|_| config.ingest_max_backlog > 0)
        .map(|bus| {
            BackPressure::new(
                bus.backlog(),
                config.ingest_max_backlog,
                config.ingest_backlog_wait,
            )
        });
    let sns = &config.sns;
    let service_settings = AlertProducerSettings {
        admin_token: cx.admin_token()?,
        keys,
        ingest_rate_limit: cx.settings.auth.ingest_rate_limit,
        sns: Some(Arc::new(Sns::new(
            sns.sns_hosts.clone(),
            Arc::new(HttpsFetch::new(sns.sns_ca_file.as_deref())?),
        ))),
        backpressure,
    };
    Ok(cx.http(listener, router(bus, service_settings), async {}))
}
