//! Load generation: a reproducible stream of alerts drawn from weighted distributions
//! of severity, source and name, sent at a rate or as fast as possible.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Alert, Severity, text::check_text};

/// What to generate, as a user asks for it (`POST /api/v1/alerts/generate`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// Alerts per second; with `duration`.
    pub rate: Option<f64>,
    /// Seconds to keep sending at `rate`.
    pub duration: Option<f64>,
    /// How many alerts to send as fast as possible (instead of rate and duration).
    pub count: Option<u64>,
    /// Makes the sequence of (severity, source, name) reproducible.
    pub seed: Option<u64>,
    /// Weights by severity, e.g. `{"HIGH": 3, "LOW": 1}`.
    pub severities: Option<BTreeMap<String, u32>>,
    /// Weights by source.
    pub sources: Option<BTreeMap<String, u32>>,
    /// Weights by alert name.
    pub names: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: &'static str,
    pub message: String,
}

fn spec_error(field: &'static str, message: impl Into<String>) -> SpecError {
    SpecError {
        field,
        message: message.into(),
    }
}

pub const MAX_RATE: f64 = 1_000_000.0;
pub const MAX_DURATION_SECS: f64 = 24.0 * 3600.0;
pub const MAX_COUNT: u64 = 100_000_000;

/// How fast, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// `count` alerts, as fast as the bus takes them.
    Count(u64),
    /// `per_second` for `duration`.
    Rate { per_second: f64, duration: Duration },
}

impl Pace {
    /// How many alerts the plan sends in all.
    pub fn total(&self) -> u64 {
        match *self {
            Self::Count(count) => count,
            Self::Rate {
                per_second,
                duration,
            } => (per_second * duration.as_secs_f64()).round() as u64,
        }
    }
}

/// A validated request: ready to run.
#[derive(Debug, Clone)]
pub struct GeneratePlan {
    pub pace: Pace,
    pub seed: u64,
    severities: Weighted<Severity>,
    sources: Weighted<String>,
    names: Weighted<String>,
}

impl GenerateSpec {
    pub fn plan(&self) -> Result<GeneratePlan, Vec<SpecError>> {
        let mut errors = Vec::new();
        let pace = match (self.count, self.rate, self.duration) {
            (Some(count), None, None) => {
                if count == 0 || count > MAX_COUNT {
                    errors.push(spec_error("count", format!("must be 1 to {MAX_COUNT}")));
                }
                Pace::Count(count)
            }
            (None, Some(rate), Some(duration)) => {
                if !(rate > 0.0 && rate <= MAX_RATE) {
                    errors.push(spec_error(
                        "rate",
                        format!("must be above 0 and at most {MAX_RATE}"),
                    ));
                }
                if !(duration > 0.0 && duration <= MAX_DURATION_SECS) {
                    errors.push(spec_error(
                        "duration",
                        format!("must be above 0 and at most {MAX_DURATION_SECS} seconds"),
                    ));
                }
                Pace::Rate {
                    per_second: rate,
                    duration: Duration::from_secs_f64(duration.clamp(0.0, MAX_DURATION_SECS)),
                }
            }
            (Some(_), _, _) => {
                errors.push(spec_error(
                    "count",
                    "give either count, or rate with duration",
                ));
                Pace::Count(0)
            }
            (None, Some(_), None) => {
                errors.push(spec_error("duration", "rate needs a duration (seconds)"));
                Pace::Count(0)
            }
            (None, None, Some(_)) => {
                errors.push(spec_error(
                    "rate",
                    "duration needs a rate (alerts per second)",
                ));
                Pace::Count(0)
            }
            (None, None, None) => {
                errors.push(spec_error(
                    "count",
                    "give either count, or rate with duration",
                ));
                Pace::Count(0)
            }
        };
        let severities = match &self.severities {
            Some(weights) => Weighted::parse("severities", weights, |key| {
                key.parse().map_err(|e: crate::domain::InvalidValue| e.0)
            }),
            None => Ok(Weighted::new(vec![
                (Severity::Low, 50),
                (Severity::Medium, 30),
                (Severity::High, 15),
                (Severity::Critical, 5),
            ])),
        };
        let text = |key: &str| {
            check_text(key, 255)
                .map(|()| key.to_owned())
                .map_err(|e| e.0)
        };
        let sources = match &self.sources {
            Some(weights) => Weighted::parse("sources", weights, text),
            None => Ok(Weighted::new(
                [("payments", 4), ("billing", 3), ("auth", 2), ("search", 1)]
                    .map(|(k, w)| (k.to_owned(), w))
                    .to_vec(),
            )),
        };
        let names = match &self.names {
            Some(weights) => Weighted::parse("names", weights, text),
            None => Ok(Weighted::new(
                [
                    ("timeout", 3),
                    ("error-rate", 3),
                    ("latency", 2),
                    ("disk-full", 1),
                    ("cert-expiry", 1),
                ]
                .map(|(k, w)| (k.to_owned(), w))
                .to_vec(),
            )),
        };
        let (severities, sources, names) = match (severities, sources, names) {
            (Ok(a), Ok(b), Ok(c)) if errors.is_empty() => (a, b, c),
            (a, b, c) => {
                errors.extend(a.err());
                errors.extend(b.err());
                errors.extend(c.err());
                return Err(errors);
            }
        };
        Ok(GeneratePlan {
            pace,
            seed: self.seed.unwrap_or_else(rand_seed),
            severities,
            sources,
            names,
        })
    }
}

fn rand_seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

#[derive(Debug, Clone)]
struct Weighted<T> {
    items: Vec<(T, u64)>,
    total: u64,
}

impl<T: Clone> Weighted<T> {
    fn new(items: Vec<(T, u64)>) -> Self {
        let total = items.iter().map(|(_, w)| w).sum();
        Self { items, total }
    }

    fn parse(
        field: &'static str,
        weights: &BTreeMap<String, u32>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Self, SpecError> {
        if weights.is_empty() {
            return Err(spec_error(field, "must name at least one value"));
        }
        let mut items = Vec::new();
        for (key, weight) in weights {
            let value =
                parse(key).map_err(|message| spec_error(field, format!("{key:?}: {message}")))?;
            if *weight == 0 {
                return Err(spec_error(
                    field,
                    format!("{key:?}: weights must be at least 1"),
                ));
            }
            items.push((value, u64::from(*weight)));
        }
        Ok(Self::new(items))
    }

    fn pick(&self, rng: &mut SplitMix64) -> T {
        let mut ticket = rng.next() % self.total;
        for (item, weight) in &self.items {
            if ticket < *weight {
                return item.clone();
            }
            ticket -= weight;
        }
        // Unreachable: tickets are below the total of the weights.
        self.items[0].0.clone()
    }
}

/// SplitMix64: tiny, fast, and the same sequence for a seed forever (a library's
/// generator may change between versions; a reproducible load test must not).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The alerts of a plan, in order. Ids are fresh UUIDs (a rerun is new alerts, not
/// duplicates); severity, source and name follow the seed.
pub struct Generator {
    plan: GeneratePlan,
    rng: SplitMix64,
}

impl Generator {
    pub fn new(plan: GeneratePlan) -> Self {
        let rng = SplitMix64(plan.seed);
        Self { plan, rng }
    }

    pub fn next_alert(&mut self) -> Alert {
        let severity = self.plan.severities.pick(&mut self.rng);
        let source = self.plan.sources.pick(&mut self.rng);
        let name = self.plan.names.pick(&mut self.rng);
        Alert {
            owner: None,
            alert_id: uuid::Uuid::now_v7().to_string(),
            event_ts: Utc::now(),
            severity,
            source,
            name,
            context: [("generator".to_owned(), "alerting".to_owned())].into(),
            dedup_key: None,
            status: Default::default(),
        }
    }
}

/// A job's counters, shared between the job and whoever reports on it.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    pub cancelled: AtomicBool,
}

impl Progress {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Sends at most this many alerts per call to the sink.
pub const BATCH: usize = 500;

/// Runs a plan: draws alerts and hands them to `send` in batches, at the plan's pace,
/// until done or cancelled. A failed batch counts as errors and the run goes on.
pub async fn run<F, Fut, E>(plan: GeneratePlan, progress: Arc<Progress>, mut send: F)
where
    F: FnMut(Vec<Alert>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let total = plan.pace.total();
    let pace = plan.pace;
    let mut generator = Generator::new(plan);
    let started = Instant::now();
    let mut drawn: u64 = 0;
    while drawn < total && !progress.is_cancelled() {
        let due = match pace {
            Pace::Count(_) => total,
            Pace::Rate { per_second, .. } => {
                ((started.elapsed().as_secs_f64() * per_second) as u64 + 1).min(total)
            }
        };
        if due <= drawn {
            // Ahead of schedule: wait for the next alert's moment.
            if let Pace::Rate { per_second, .. } = pace {
                let next_at = Duration::from_secs_f64(drawn as f64 / per_second);
                tokio::time::sleep(next_at.saturating_sub(started.elapsed())).await;
            }
            continue;
        }
        let size = (due - drawn).min(BATCH as u64) as usize;
        let batch: Vec<Alert> = (0..size).map(|_| generator.next_alert()).collect();
        drawn += size as u64;
        match send(batch).await {
            Ok(()) => {
                crate::metrics::metrics().alerts_received.add(size as u64);
                progress.sent.fetch_add(size as u64, Ordering::Relaxed)
            }
            Err(err) => {
                tracing::warn!(error = %err, alerts = size, "load generation: a batch failed");
                progress.errors.fetch_add(size as u64, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triples(seed: u64, n: usize) -> Vec<(Severity, String, String)> {
        let plan = GenerateSpec {
            count: Some(n as u64),
            seed: Some(seed),
            ..Default::default()
        }
        .plan()
        .expect("valid");
        let mut generator = Generator::new(plan);
        (0..n)
            .map(|_| {
                let alert = generator.next_alert();
                (alert.severity, alert.source, alert.name)
            })
            .collect()
    }

    #[test]
    fn a_seed_fixes_the_sequence() {
        assert_eq!(triples(7, 1000), triples(7, 1000));
        assert_ne!(triples(7, 1000), triples(8, 1000));
    }

    #[test]
    fn weights_shape_the_distribution() {
        let spec = GenerateSpec {
            count: Some(10_000),
            seed: Some(1),
            severities: Some([("HIGH".to_owned(), 3), ("low".to_owned(), 1)].into()),
            sources: Some([("only".to_owned(), 1)].into()),
            ..Default::default()
        };
        let mut generator = Generator::new(spec.plan().expect("valid"));
        let highs = (0..10_000)
            .filter(|_| generator.next_alert().severity == Severity::High)
            .count();
        assert!(
            (7_000..8_000).contains(&highs),
            "about 3 in 4 are HIGH: {highs}"
        );
    }

    #[test]
    fn bad_specs_name_their_field() {
        let field = |spec: GenerateSpec| spec.plan().expect_err("invalid")[0].field;
        assert_eq!(field(GenerateSpec::default()), "count");
        assert_eq!(
            field(GenerateSpec {
                rate: Some(10.0),
                ..Default::default()
            }),
            "duration"
        );
        assert_eq!(
            field(GenerateSpec {
                count: Some(0),
                ..Default::default()
            }),
            "count"
        );
        assert_eq!(
            field(GenerateSpec {
                rate: Some(-1.0),
                duration: Some(1.0),
                ..Default::default()
            }),
            "rate"
        );
        assert_eq!(
            field(GenerateSpec {
                count: Some(1),
                severities: Some([("LOUD".to_owned(), 1)].into()),
                ..Default::default()
            }),
            "severities"
        );
        assert_eq!(
            field(GenerateSpec {
                count: Some(1),
                names: Some([("x".to_owned(), 0)].into()),
                ..Default::default()
            }),
            "names"
        );
    }

    #[tokio::test]
    async fn a_run_sends_exactly_the_count_in_batches() {
        let plan = GenerateSpec {
            count: Some(1_234),
            seed: Some(3),
            ..Default::default()
        }
        .plan()
        .expect("valid");
        let progress = Arc::new(Progress::default());
        let mut sizes = Vec::new();
        run(plan, progress.clone(), |batch| {
            sizes.push(batch.len());
            async { Ok::<(), String>(()) }
        })
        .await;
        assert_eq!(sizes, [500, 500, 234]);
        assert_eq!(progress.sent.load(Ordering::Relaxed), 1_234);
    }
}
