//! Payloads other tools already send, turned into our alerts at the edge: one module
//! per tool, each a pure function of the request body (the alert-producer's routes
//! authenticate, limit and publish them like any alert).
//!
//! Layout:
//! - `labels`: what Prometheus-style label sets share: the severity a `severity` label
//!   names, the label set's fingerprint (the dedup key), the context they make.
//! - `alertmanager`: Alertmanager's webhook (payload version 4), and Grafana's, which
//!   has the same shape.
//! - `labeled`: an alert as labels, annotations, start and end, made ours; each
//!   integration below fills one in from its payload.
//! - `pagerduty`: PagerDuty's Events API v2 (`POST /v2/enqueue`): trigger, acknowledge,
//!   resolve.
//! - `prometheus`: Alertmanager's v2 ingest API (`POST /api/v2/alerts`), as Prometheus
//!   posts to an Alertmanager.
//! - `sns`: Amazon SNS's messages, verified by their signature; CloudWatch alarms.

pub mod alertmanager;
pub mod labeled;
pub mod labels;
pub mod pagerduty;
pub mod prometheus;
pub mod sns;
