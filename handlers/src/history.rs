//! The process's own counters over the last hour, read once a minute, for the
//! console's overview: alerts in, deliveries failed, endpoints marked down, messages
//! dead-lettered, and each consumer's lag. In embedded mode (`alerting up`) the process
//! is the whole platform; a rule-service on its own counts none of these (each service
//! exports its own, on `/metrics` and to CloudWatch), and the overview says so.

use std::{collections::VecDeque, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::{CONSUMERS, Metrics};

/// How often a reading is kept.
pub const EVERY: Duration = Duration::from_secs(60);
/// An hour of readings, and the one before it (for the first minute's difference).
const KEPT: usize = 61;

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: DateTime<Utc>,
    alerts_in: u64,
    deliveries_failed: u64,
    endpoints_marked_down: u64,
    dead_lettered: u64,
    lags: [i64; CONSUMERS.len()],
}

impl Sample {
    fn of(metrics: &Metrics, at: DateTime<Utc>) -> Self {
        Self {
            at,
            alerts_in: metrics.alerts_received.get(),
            deliveries_failed: metrics.deliveries_failed.get(),
            endpoints_marked_down: metrics.endpoints_marked_down.get(),
            dead_lettered: metrics.messages_dead_lettered.get(),
            lags: metrics.consumer_lags(),
        }
    }
}

/// What happened between two readings.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    pub alerts_in: u64,
    pub deliveries_failed: u64,
    pub endpoints_marked_down: u64,
    pub dead_lettered: u64,
}

impl Counts {
    fn between(from: &Sample, to: &Sample) -> Self {
        Self {
            alerts_in: to.alerts_in.saturating_sub(from.alerts_in),
            deliveries_failed: to.deliveries_failed.saturating_sub(from.deliveries_failed),
            endpoints_marked_down: to
                .endpoints_marked_down
                .saturating_sub(from.endpoints_marked_down),
            dead_lettered: to.dead_lettered.saturating_sub(from.dead_lettered),
        }
    }
}

/// One minute of the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Minute {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Messages waiting for the consumers, all together, at the minute's end.
    pub waiting: i64,
}

/// The process's counters over the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recent {
    /// Whether this process runs the whole pipeline (embedded mode): if not, these
    /// count only what this process did, which for a rule-service is nothing of it.
    pub whole_platform: bool,
    /// From the oldest reading kept (at most an hour ago) to now.
    pub since: DateTime<Utc>,
    pub totals: Counts,
    /// Oldest first.
    pub minutes: Vec<Minute>,
    /// Messages waiting for each consumer now (evaluator, aggregator, sender,
    /// rule-updater).
    #[schema(value_type = Object)]
    pub consumer_lag: std::collections::BTreeMap<&'static str, i64>,
}

/// The readings of the last hour.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// Keeps a reading of `metrics` taken at `at`.
    pub fn record(&self, metrics: &Metrics, at: DateTime<Utc>) {
        let mut samples = self.samples();
        samples.push_back(Sample::of(metrics, at));
        while samples.len() > KEPT {
            samples.pop_front();
        }
    }

    /// The hour to now, `metrics` read now.
    pub fn recent(&self, metrics: &Metrics, now: DateTime<Utc>, whole_platform: bool) -> Recent {
        let samples = self.samples();
        let current = Sample::of(metrics, now);
        let oldest = samples.front().copied().unwrap_or(current);
        let minutes = samples
            .iter()
            .zip(samples.iter().skip(1).chain(std::iter::once(&current)))
            .map(|(from, to)| Minute {
                start: from.at,
                counts: Counts::between(from, to),
                waiting: to.lags.iter().sum(),
            })
            .collect();
        Recent {
            whole_platform,
            since: oldest.at,
            totals: Counts::between(&oldest, &current),
            minutes,
            consumer_lag: CONSUMERS.iter().copied().zip(current.lags).collect(),
        }
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        // A panic elsewhere while holding it leaves readings that are still whole.
        self.samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_run_from_the_oldest_reading_kept_to_now() {
        let metrics = Metrics::default();
        let history = History::default();
        let start = Utc::now();
        for minute in 0..70 {
            metrics.alerts_received.add(10);
            history.record(&metrics, start + chrono::Duration::minutes(minute));
        }
        metrics.alerts_received.add(3);
        metrics.set_consumer_lag("sender", 7);
        let recent = history.recent(&metrics, start + chrono::Duration::minutes(70), true);
        // 61 readings kept: 60 full minutes between them, and 3 alerts since the last.
        assert_eq!(recent.totals.alerts_in, 603);
        assert_eq!(recent.minutes.len(), 61);
        assert_eq!(recent.minutes[0].counts.alerts_in, 10);
        assert_eq!(recent.minutes[60].counts.alerts_in, 3);
        assert_eq!(recent.consumer_lag["sender"], 7);
        assert_eq!(recent.minutes[60].waiting, 7);
    }

    #[test]
    fn without_readings_the_totals_are_nothing_yet() {
        let history = History::default();
        let recent = history.recent(&Metrics::default(), Utc::now(), false);
        assert_eq!(recent.totals.alerts_in, 0);
        assert!(recent.minutes.is_empty());
    }
}
