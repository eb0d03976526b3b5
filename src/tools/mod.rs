//! The tools that come with the binary, apart from the services: they talk to a
//! running platform from outside, as a user's own programs would.
//!
//! Layout:
//! - `bench`: `alerting bench`, the measurement harness (setup, load, report).
//! - `produce`: `alerting produce`, alerts at a count or a rate, over HTTP.
//! - `sink`: `alerting sink`, a webhook receiver that prints and checks signatures.

pub mod bench;
pub mod produce;
pub mod sink;
