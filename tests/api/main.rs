//! The `api` test binary: the HTTP APIs over real HTTP (the rule-service's tests each
//! on SQLite and on Postgres), the binary and its CLI, the README's examples, the
//! documentation's links, Lambda, and the matching pipeline embedded and distributed
//! (pipeline/). What it shares with the acceptance suite is in the
//! `alerting-test-support` crate (test-support/).

mod helpers;

mod acknowledgements;
mod admin_routes;
mod app_role;
mod backpressure;
mod bench;
mod cli;
mod clients;
mod connections;
mod constraints;
mod database_tls;
mod dedup_keys;
mod duplicate_keys;
mod embedded_crash;
mod embedded_upgrade;
mod endpoint_input;
mod endpoints;
mod explain;
mod lambda;
mod links;
mod notifications;
mod openapi;
mod overview;
mod pipeline;
mod pipeline_counters;
mod protocol;
mod quotas;
mod readme;
mod redaction;
mod repeats;
mod resolutions;
mod rules;
mod security;
mod silences;
mod test_deliveries;
