//! The platform's units of work: pure domain types parsed once at the edge, the events
//! on the wire, the ports (bus, snapshot store), and the handlers: HTTP routers and
//! event/scheduled jobs. Runners in the root crate host them without knowing their
//! insides.

pub mod domain;
pub mod events;
pub mod http;
pub mod jobs;
pub mod matching;
pub mod metrics;
pub mod outbox;
pub mod ports;
pub mod redact;
pub mod safe_targets;
pub mod signature;
pub mod snapshot_format;
