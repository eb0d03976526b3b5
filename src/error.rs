//! Why a service could not start (or stopped): one line naming the setting to change,
//! logged by `main` before it exits with a failure. It sits below every module that
//! starts something (runners, services, the platform), so each can return it.

use std::net::SocketAddr;

use crate::{
    adapters::{channels::ChannelSetupError, kafka::KafkaSetupError},
    db::DbSetupError,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error(transparent)]
    Kafka(#[from] KafkaSetupError),
    #[error(transparent)]
    Channels(#[from] ChannelSetupError),
    #[error(transparent)]
    Redis(#[from] crate::adapters::redis_snapshot::RedisSetupError),
    #[error(transparent)]
    Sns(#[from] crate::adapters::sns_fetch::SnsFetchSetupError),
    #[error(transparent)]
    AppRole(#[from] crate::app_role::AppRoleError),
    #[error(transparent)]
    EmbeddedBus(#[from] crate::adapters::durable_bus::DurableBusError),
    #[error("{service} needs {what}")]
    Missing {
        service: &'static str,
        what: &'static str,
    },
    #[error("cannot listen on {addr} (set {variable} to another address): {source}")]
    Listen {
        addr: SocketAddr,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("the {service} server failed: {source}")]
    Serve {
        service: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Job(String),
    #[error("{0}")]
    AdminToken(String),
}
