//! The runtime of the `alerting` binary: the command line and settings, the backends
//! (adapters of the ports of `alerting-handlers`), the runners that host its handlers,
//! the services built from both, and the tools that come with the binary.
//!
//! Layout (imports point down this list, never up):
//! - `cli`: the commands, and what each runs.
//! - `platform`: `alerting up`, every service in one process.
//! - `services`: each service started in one place from settings and backends; the
//!   one-shot jobs.
//! - `tools`: `bench`, `produce` and `sink`, which talk to a platform from outside.
//! - `runners`: the consumer loop, the HTTP server, the metrics exporter, shutdown.
//! - `admin_token`: the admin token, given or made for `up`.
//! - `error`: why a service could not start.
//! - `adapters`: Kafka, embedded mode's bus log (and a bus in memory for tests), Redis
//!   and in-process snapshot stores, the delivery channels, CloudWatch.
//! - `db`: connecting to Postgres or SQLite, and migrating.
//! - `app_role`: the application's own Postgres role, made and granted by `migrate`.
//! - `config`: the settings tree (each setting documented once, on its definition).
//! - `http_client`, `memory`, `private_files`: small shared pieces (the outbound HTTP
//!   client, returning freed memory, files only their owner reads).

pub mod adapters;
pub mod admin_token;
pub mod app_role;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http_client;
pub mod memory;
pub mod platform;
pub mod private_files;
pub mod runners;
pub mod services;
pub mod tools;
