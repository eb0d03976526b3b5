//! Event and scheduled handlers: plain functions of their input and the ports they
//! need. Runners (consumer loops, timers, one-shot commands) decide when they run.

pub mod aggregate;
pub mod evaluate;
pub mod generate;
pub mod index_lookups;
pub mod redrive;
pub mod relay;
pub mod send;
pub mod snapshot;
