//! Runners host handlers: they know about sockets and signals; handlers do not.

pub mod consumer;
pub mod http;
pub mod metrics;
pub mod shutdown;
