//! sea-orm entities, one module per table. They mirror the schema that
//! `alerting-migration` creates; domain rules live in `alerting-handlers`.

pub mod api_keys;
pub mod clients;
pub mod deliveries;
pub mod endpoints;
pub mod notifications;
pub mod occurrences;
pub mod outbox;
pub mod resolves;
pub mod rules;
pub mod silences;
