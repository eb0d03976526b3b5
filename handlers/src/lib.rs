//! The platform's units of work: pure domain types parsed once at the edge, the events
//! on the wire, the ports, and the handlers: HTTP routers and event/scheduled jobs.
//! Runners in the root crate host them without knowing their insides.
//!
//! Layout:
//! - `backpressure`: ingestion held back while the pipeline is too far behind.
//! - `domain`: alerts, rules, clients, endpoints, notification and delivery statuses,
//!   each parsed once where it enters.
//! - `events`: the messages of every topic, and the topics' names.
//! - `ports`: the bus (publish, subscribe), the snapshot store, the delivery channel,
//!   the metrics sink.
//! - `http`: the rule-service's and the alert-producer's routers, authentication,
//!   errors, extractors and rate limits.
//! - `integrations`: the payloads of Prometheus, Alertmanager, Grafana, PagerDuty and
//!   SNS (CloudWatch alarms), tools that already send alerts, turned into ours.
//! - `jobs`: evaluate, aggregate, send, snapshot, redrive, load generation.
//! - `outbox`: both halves of `rule.changed`'s outbox: record and relay.
//! - `matching`, `snapshot_format`: the rule index and the snapshot's binary form.
//! - `metrics`: the counters every service keeps, and their Prometheus text;
//!   `history`: the last hour of them, for the console's overview.
//! - `redact`, `safe_targets`, `signature`: secrets kept out of text, the addresses a
//!   delivery may reach, webhook signatures.

pub mod backpressure;
pub mod domain;
pub mod events;
pub mod history;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod matching;
pub mod metrics;
pub mod outbox;
pub mod ports;
pub mod redact;
pub mod safe_targets;
pub mod signature;
pub mod snapshot_format;
