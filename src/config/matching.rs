//! How the rule snapshot is kept current and how consumers take their work.

use std::time::Duration;

use clap::Args;

use super::parse_duration;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Matching")]
pub struct MatchingConfig {
    /// How often the rule-updater rebuilds the whole snapshot from SQL.
    #[arg(long, env = "SNAPSHOT_REBUILD_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub snapshot_rebuild_interval: Duration,

    /// How often evaluators check for a new snapshot (besides announcements).
    #[arg(long, env = "SNAPSHOT_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub snapshot_poll_interval: Duration,

    /// How long the rule-updater's lease lasts without renewal; a standby takes over
    /// after it.
    #[arg(long, env = "RULE_UPDATER_LEASE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub lease_ttl: Duration,

    /// How often the outbox relay looks for rule changes to publish.
    #[arg(long, env = "OUTBOX_POLL_INTERVAL", default_value = "200ms", value_parser = parse_duration)]
    pub outbox_poll_interval: Duration,

    /// Messages a consumer takes per batch.
    #[arg(long, env = "CONSUMER_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub consumer_batch_size: u32,
}
