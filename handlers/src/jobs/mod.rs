//! Event and scheduled handlers: plain functions of their input and the ports they
//! need. Runners (consumer loops, timers, one-shot commands) decide when they run.

pub mod acknowledge;
pub mod aggregate;
pub mod evaluate;
pub mod fold;
pub mod generate;
pub mod index_lookups;
pub mod lifecycle;
pub mod load_jobs;
pub mod redrive;
pub mod resolve;
pub mod send;
pub mod silences;
pub mod snapshot;
pub mod timings;

/// Rows (or keys of an `IN (…)` list) per SQL statement, wherever a job writes or reads
/// many at once: well inside both backends' limits on bound parameters (SQLite 32,766,
/// Postgres 65,535, even at a dozen columns a row), and large enough that the round
/// trips stop mattering.
pub const ROWS_PER_STATEMENT: usize = 500;
