//! The long-running services: each one a runner wired to its handlers and ports.

pub mod evaluator;
pub mod rule_updater;
