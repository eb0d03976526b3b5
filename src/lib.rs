//! The runtime of the `alerting` binary: configuration from the environment, the
//! database connection, and the runners that host the handlers of `alerting-handlers`.

pub mod adapters;
pub mod admin_token;
pub mod bench;
pub mod config;
pub mod db;
pub mod http_client;
pub mod memory;
pub mod platform;
pub mod private_files;
pub mod produce;
pub mod runners;
pub mod services;
pub mod sink;
