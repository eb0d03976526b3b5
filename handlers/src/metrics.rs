//! What the platform counts: one registry per process, written by the handlers with a
//! relaxed atomic add (nothing on the matching path waits for it), read by the
//! exporters: Prometheus text at `/metrics` (pulled), and a [`MetricsSink`] such as
//! CloudWatch (pushed once per interval by the root crate's runner).
//!
//! The registry is process-wide, like a process's resident memory: each service of the
//! distributed mode is its own process and so has its own numbers; `alerting up` counts
//! the whole platform in one.
//!
//! [`MetricsSink`]: crate::ports::MetricsSink

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
    time::Duration,
};

/// A count that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub fn add(&self, n: u64) {
        if n > 0 {
            self.0.fetch_add(n, Relaxed);
        }
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    pub fn set(&self, value: i64) {
        self.0.store(value, Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Upper bounds of the delivery latency buckets, in seconds: from a loopback webhook
/// to a retried one.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Durations in buckets (each counts the observations up to its bound and above the
/// one before; the last, unbounded one the rest).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; LATENCY_BOUNDS.len() + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, duration: Duration) {
        // A timestamp from far in the past (a message is outside input) must not wrap
        // the sum: anything beyond a day counts as a day.
        let duration = duration.min(Duration::from_secs(86_400));
        let seconds = duration.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    fn read(&self) -> HistogramReading {
        HistogramReading {
            bucket_counts: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            sum_seconds: self.sum_micros.load(Relaxed) as f64 / 1e6,
        }
    }
}

/// The consumers whose lag is tracked, by the name the consumer runner knows them by.
pub const CONSUMERS: [&str; 4] = ["evaluator", "aggregator", "sender", "rule-updater"];

/// The integrations whose alerts are counted apart, by their route's name for them.
pub const INTEGRATIONS: [&str; 5] = ["prometheus", "alertmanager", "grafana", "pagerduty", "sns"];

/// Status classes of HTTP answers: 1xx to 5xx.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    pub alerts_received: Counter,
    pub alerts_matched: Counter,
    pub alerts_unmatched: Counter,
    pub notifications_created: Counter,
    pub notifications_deduplicated: Counter,
    pub notifications_resolved: Counter,
    pub notifications_silenced: Counter,
    pub notifications_repeated: Counter,
    pub deliveries_delivered: Counter,
    pub deliveries_failed: Counter,
    pub deliveries_retried: Counter,
    pub deliveries_deferred: Counter,
    pub endpoints_marked_down: Counter,
    pub messages_dead_lettered: Counter,
    pub ingest_backlogged: Counter,
    pub rule_changes_applied: Counter,
    pub snapshots_written: Counter,
    pub snapshot_rules: Gauge,
    pub delivery_latency: Histogram,
    consumer_lag: [Gauge; CONSUMERS.len()],
    http_responses: [Counter; STATUS_CLASSES.len()],
    integrated: [Counter; INTEGRATIONS.len()],
}

static METRICS: Metrics = Metrics::new();

/// A registry of its own, apart from the process's (for tests of what reads it).
impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's registry.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    const fn new() -> Self {
        Self {
            alerts_received: Counter::new(),
            alerts_matched: Counter::new(),
            alerts_unmatched: Counter::new(),
            notifications_created: Counter::new(),
            notifications_deduplicated: Counter::new(),
            notifications_resolved: Counter::new(),
            notifications_silenced: Counter::new(),
            notifications_repeated: Counter::new(),
            deliveries_delivered: Counter::new(),
            deliveries_failed: Counter::new(),
            deliveries_retried: Counter::new(),
            deliveries_deferred: Counter::new(),
            endpoints_marked_down: Counter::new(),
            messages_dead_lettered: Counter::new(),
            ingest_backlogged: Counter::new(),
            rule_changes_applied: Counter::new(),
            snapshots_written: Counter::new(),
            snapshot_rules: Gauge::new(),
            delivery_latency: Histogram::new(),
            consumer_lag: [const { Gauge::new() }; CONSUMERS.len()],
            http_responses: [const { Counter::new() }; STATUS_CLASSES.len()],
            integrated: [const { Counter::new() }; INTEGRATIONS.len()],
        }
    }

    /// Messages waiting for `consumer` (one of [`CONSUMERS`]; others are not tracked).
    pub fn set_consumer_lag(&self, consumer: &str, lag: u64) {
        if let Some(i) = CONSUMERS.iter().position(|c| *c == consumer) {
            self.consumer_lag[i].set(i64::try_from(lag).unwrap_or(i64::MAX));
        }
    }

    /// The messages waiting for each consumer, by [`CONSUMERS`]' order.
    pub fn consumer_lags(&self) -> [i64; CONSUMERS.len()] {
        std::array::from_fn(|i| self.consumer_lag[i].get())
    }

    /// Counts `alerts` accepted through `integration` (one of [`INTEGRATIONS`]).
    pub fn alerts_integrated(&self, integration: &str, alerts: u64) {
        if let Some(i) = INTEGRATIONS.iter().position(|name| *name == integration) {
            self.integrated[i].add(alerts);
        }
    }

    /// Counts one HTTP answer by its status class.
    pub fn http_response(&self, status: u16) {
        let class = usize::from(status / 100).saturating_sub(1);
        if let Some(counter) = self.http_responses.get(class) {
            counter.inc();
        }
    }

    /// Every value at this moment.
    pub fn read(&self) -> Reading {
        let counter = |name, cloudwatch_name, help, counter: &Counter| CounterReading {
            name,
            cloudwatch_name,
            help,
            label: None,
            value: counter.get(),
        };
        let mut counters = vec![
            counter(
                "alerting_alerts_received_total",
                "AlertsReceived",
                "Alerts accepted by the alert-producer (API and load generation)",
                &self.alerts_received,
            ),
            counter(
                "alerting_alerts_matched_total",
                "AlertsMatched",
                "Alerts evaluated that matched at least one client's rule",
                &self.alerts_matched,
            ),
            counter(
                "alerting_alerts_unmatched_total",
                "AlertsUnmatched",
                "Alerts evaluated that matched no rule",
                &self.alerts_unmatched,
            ),
            counter(
                "alerting_notifications_created_total",
                "NotificationsCreated",
                "Notifications stored, one per client and alert",
                &self.notifications_created,
            ),
            counter(
                "alerting_notifications_deduplicated_total",
                "NotificationsDeduplicated",
                "Matches whose notification existed already (redeliveries, repeated alerts)",
                &self.notifications_deduplicated,
            ),
            counter(
                "alerting_notifications_resolved_total",
                "NotificationsResolved",
                "Notifications resolved (by a resolved alert, a person, or auto-resolve)",
                &self.notifications_resolved,
            ),
            counter(
                "alerting_notifications_silenced_total",
                "NotificationsSilenced",
                "Notifications a silence or maintenance window kept from being delivered",
                &self.notifications_silenced,
            ),
            counter(
                "alerting_notifications_repeated_total",
                "NotificationsRepeated",
                "Repeats of open, unacknowledged notifications announced (a rule's repeat_interval)",
                &self.notifications_repeated,
            ),
            counter(
                "alerting_deliveries_delivered_total",
                "DeliveriesDelivered",
                "Deliveries an endpoint accepted",
                &self.deliveries_delivered,
            ),
            counter(
                "alerting_deliveries_failed_total",
                "DeliveriesFailed",
                "Deliveries that failed for good (refused, or out of attempts)",
                &self.deliveries_failed,
            ),
            counter(
                "alerting_deliveries_retried_total",
                "DeliveriesRetried",
                "Delivery attempts that failed and will be retried",
                &self.deliveries_retried,
            ),
            counter(
                "alerting_deliveries_deferred_total",
                "DeliveriesDeferred",
                "Deliveries left to the next redrive because their endpoint was down",
                &self.deliveries_deferred,
            ),
            counter(
                "alerting_endpoints_marked_down_total",
                "EndpointsMarkedDown",
                "Times an endpoint failed often enough in a row to be treated as down",
                &self.endpoints_marked_down,
            ),
            counter(
                "alerting_messages_dead_lettered_total",
                "MessagesDeadLettered",
                "Messages sent to a dead-letter topic",
                &self.messages_dead_lettered,
            ),
            counter(
                "alerting_ingest_backlogged_total",
                "IngestBacklogged",
                "Ingest requests refused (503) because the pipeline stayed more than INGEST_MAX_BACKLOG messages behind",
                &self.ingest_backlogged,
            ),
            counter(
                "alerting_rule_changes_applied_total",
                "RuleChangesApplied",
                "rule.changed events applied to the rule snapshot",
                &self.rule_changes_applied,
            ),
            counter(
                "alerting_snapshots_written_total",
                "SnapshotsWritten",
                "Rule snapshots written by this rule-updater",
                &self.snapshots_written,
            ),
        ];
        counters.extend(
            STATUS_CLASSES
                .iter()
                .zip(&self.http_responses)
                .map(|(class, counter)| CounterReading {
                    name: "alerting_http_responses_total",
                    cloudwatch_name: "HttpResponses",
                    help: "HTTP answers by status class",
                    label: Some(("class", class)),
                    value: counter.get(),
                }),
        );
        counters.extend(
            INTEGRATIONS
                .iter()
                .zip(&self.integrated)
                .map(|(integration, counter)| CounterReading {
                    name: "alerting_alerts_integrated_total",
                    cloudwatch_name: "AlertsIntegrated",
                    help: "Alerts accepted through an integration (also counted in alerts received)",
                    label: Some(("integration", integration)),
                    value: counter.get(),
                }),
        );
        let mut gauges = vec![GaugeReading {
            name: "alerting_snapshot_rules",
            cloudwatch_name: "SnapshotRules",
            help: "Rules in the last snapshot this rule-updater wrote",
            label: None,
            value: self.snapshot_rules.get(),
        }];
        gauges.extend(
            CONSUMERS
                .iter()
                .zip(&self.consumer_lag)
                .map(|(consumer, lag)| GaugeReading {
                    name: "alerting_consumer_lag",
                    cloudwatch_name: "ConsumerLag",
                    help: "Messages received by the bus but not yet done, per consumer",
                    label: Some(("consumer", consumer)),
                    value: lag.get(),
                }),
        );
        Reading {
            counters,
            gauges,
            delivery_latency: self.delivery_latency.read(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CounterReading {
    /// The Prometheus name.
    pub name: &'static str,
    pub cloudwatch_name: &'static str,
    pub help: &'static str,
    pub label: Option<(&'static str, &'static str)>,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GaugeReading {
    pub name: &'static str,
    pub cloudwatch_name: &'static str,
    pub help: &'static str,
    pub label: Option<(&'static str, &'static str)>,
    pub value: i64,
}

/// Counts per bucket of [`LATENCY_BOUNDS`] (not cumulative), the last one unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramReading {
    pub bucket_counts: Vec<u64>,
    pub sum_seconds: f64,
}

impl HistogramReading {
    pub fn count(&self) -> u64 {
        self.bucket_counts.iter().sum()
    }
}

/// Every metric's value at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub counters: Vec<CounterReading>,
    pub gauges: Vec<GaugeReading>,
    pub delivery_latency: HistogramReading,
}

pub const DELIVERY_LATENCY_NAME: &str = "alerting_delivery_latency_seconds";

impl Reading {
    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut described = "";
        let mut header = |out: &mut String, name: &'static str, help: &str, kind: &str| {
            if described != name {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                described = name;
            }
        };
        for c in &self.counters {
            header(&mut out, c.name, c.help, "counter");
            let _ = writeln!(out, "{}{} {}", c.name, labels(c.label), c.value);
        }
        for g in &self.gauges {
            header(&mut out, g.name, g.help, "gauge");
            let _ = writeln!(out, "{}{} {}", g.name, labels(g.label), g.value);
        }
        let name = DELIVERY_LATENCY_NAME;
        header(
            &mut out,
            name,
            "From a notification's creation to its delivery to one endpoint",
            "histogram",
        );
        let mut cumulative = 0;
        for (i, count) in self.delivery_latency.bucket_counts.iter().enumerate() {
            cumulative += count;
            match LATENCY_BOUNDS.get(i) {
                Some(bound) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}", self.delivery_latency.sum_seconds);
        let _ = writeln!(out, "{name}_count {cumulative}");
        out
    }
}

fn labels(label: Option<(&str, &str)>) -> String {
    label.map_or_else(String::new, |(key, value)| format!("{{{key}=\"{value}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry of its own: the process-wide one is shared by every test.
    fn fresh() -> Metrics {
        Metrics::default()
    }

    #[test]
    fn latency_lands_in_the_first_bucket_whose_bound_covers_it() {
        let metrics = fresh();
        metrics.delivery_latency.observe(Duration::from_millis(5));
        metrics.delivery_latency.observe(Duration::from_millis(30));
        metrics.delivery_latency.observe(Duration::from_secs(3600));
        metrics.delivery_latency.observe(Duration::MAX);
        let reading = metrics.read().delivery_latency;
        assert_eq!(reading.bucket_counts[0], 1, "5 ms is within 0.005 s");
        assert_eq!(reading.bucket_counts[3], 1, "30 ms is within 0.05 s");
        assert_eq!(reading.bucket_counts[LATENCY_BOUNDS.len()], 2);
        assert_eq!(reading.count(), 4);
        assert!(
            (reading.sum_seconds - 90000.035).abs() < 1e-6,
            "a day at most"
        );
    }

    #[test]
    fn prometheus_text_has_one_header_per_metric_and_cumulative_buckets() {
        let metrics = fresh();
        metrics.alerts_received.add(7);
        metrics.http_response(200);
        metrics.http_response(404);
        metrics.http_response(404);
        metrics.set_consumer_lag("sender", 12);
        metrics.set_consumer_lag("not-a-consumer", 99);
        metrics.alerts_integrated("pagerduty", 3);
        metrics.alerts_integrated("nagios", 5);
        metrics.delivery_latency.observe(Duration::from_millis(3));
        metrics.delivery_latency.observe(Duration::from_millis(70));
        let text = metrics.read().to_prometheus();

        assert!(
            text.contains("alerting_alerts_received_total 7\n"),
            "{text}"
        );
        assert!(text.contains("alerting_http_responses_total{class=\"4xx\"} 2\n"));
        assert!(text.contains("alerting_http_responses_total{class=\"2xx\"} 1\n"));
        assert!(text.contains("alerting_consumer_lag{consumer=\"sender\"} 12\n"));
        assert!(!text.contains("not-a-consumer"));
        assert!(text.contains("alerting_alerts_integrated_total{integration=\"pagerduty\"} 3\n"));
        assert!(text.contains("alerting_alerts_integrated_total{integration=\"grafana\"} 0\n"));
        assert!(!text.contains("nagios"));
        assert_eq!(
            text.matches("# TYPE alerting_http_responses_total counter")
                .count(),
            1
        );
        assert!(text.contains("alerting_delivery_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("alerting_delivery_latency_seconds_bucket{le=\"0.1\"} 2\n"));
        assert!(text.contains("alerting_delivery_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("alerting_delivery_latency_seconds_count 2\n"));
        // Every sample line is `name{labels} value` with a number for the value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name and value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
