//! Runners host handlers: they know about sockets and signals; handlers do not.

pub mod http;
pub mod shutdown;
