//! The rule-service over real HTTP, every test on SQLite and on Postgres.

mod helpers;

mod admin_routes;
mod bench;
mod cli;
mod clients;
mod connections;
mod constraints;
mod duplicate_keys;
mod endpoint_input;
mod endpoints;
mod lambda;
mod links;
mod notifications;
mod openapi;
mod pipeline;
mod process;
mod protocol;
mod quotas;
mod readme;
mod redaction;
mod rules;
mod security;
mod sinks;
