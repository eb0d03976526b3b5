//! The platform's units of work: pure domain types parsed once at the edge, and the
//! HTTP routers that serve them. Runners (the HTTP server, Lambda, consumers) live in
//! the root crate and host what this crate builds without knowing its insides.

pub mod domain;
pub mod http;
