//! The long-running services: each one a runner wired to its handlers and ports.

pub mod aggregator;
pub mod evaluator;
pub mod rule_updater;
pub mod sender;
