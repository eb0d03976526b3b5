//! The bench's results: a table for people and JSON for machines.

use serde::Serialize;

use crate::config::KafkaFlow;

/// The row of the bench's own process (load generator and webhook receiver).
pub const BENCH_PROCESS: &str = "bench (load + receiver)";
/// Ends the rows of what the platform leans on (broker, database, Redis), measured as
/// every process of that command.
pub const DEPENDENCY_SUFFIX: &str = " (all processes)";

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From durations in microseconds (negative clock skew counts as zero).
    pub fn of(mut micros: Vec<i64>) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let index = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            micros[index].max(0) as f64 / 1_000.0
        };
        Self {
            count: micros.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// One stretch of the run's wall time: the latency of the alerts sent in it and the CPU
/// each process used in it, so that a platform (or a broker) that slows down as a run
/// goes on shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub start_seconds: f64,
    pub end_seconds: f64,
    pub ingest_to_delivery: Latency,
    /// Cores used in the window, by process (the names of `processes`).
    pub cores: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    pub name: String,
    pub peak_rss_mb: f64,
    /// CPU seconds spent while alerts were sent and delivered.
    pub cpu_seconds: f64,
    /// Of the wall time of the run: 1.0 is one core busy all along.
    pub cores_used: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mode: String,
    pub clients: usize,
    pub rules: usize,
    pub wildcard_percent: u8,
    pub alerts: usize,
    pub rate: Option<f64>,
    pub batch: usize,
    pub connections: usize,
    pub instances: usize,
    pub seed: u64,
    /// Problems the alerts' dedup keys were drawn from (0: no keys), and the share of
    /// resolved alerts.
    pub dedup_keys: usize,
    pub resolved_percent: Option<u8>,
    /// The bus settings the run's services had (kafka mode).
    pub kafka: Option<KafkaFlow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub machine: String,
    pub setup_seconds: f64,
    pub alerts_sent: usize,
    pub ingest_seconds: f64,
    pub alerts_per_second_in: f64,
    /// Ingest requests the platform held back (503 with Retry-After when the pipeline
    /// is INGEST_MAX_BACKLOG behind, or 429), each sent again after the wait.
    pub ingest_held_back: usize,
    pub notifications_expected: usize,
    pub notifications_delivered: usize,
    pub duplicate_deliveries: usize,
    pub run_seconds: f64,
    /// Alerts over the time until the last of their notifications was delivered.
    pub alerts_per_second_end_to_end: f64,
    pub notifications_per_second: f64,
    /// From the alert's send to its delivery at the receiver.
    pub ingest_to_delivery: Latency,
    /// Stages: the ingest request's answer; send → stored (alert-producer, bus,
    /// evaluator, aggregator); stored → delivered (bus, sender, HTTP).
    pub ingest_request: Latency,
    pub send_to_stored: Latency,
    pub stored_to_delivered: Latency,
    /// From a rule being enabled to the send of the first alert it matched (alerts go
    /// out every 20 ms after the change).
    pub rule_change_visible_ms: Option<f64>,
    /// The run in stretches of `--window` seconds (empty when it fits in one).
    pub over_time: Vec<Window>,
    pub processes: Vec<ProcessReport>,
    pub complete: bool,
}

impl Window {
    /// The platform's own processes summed; what it leans on (broker, database) by name.
    pub(crate) fn row(&self) -> String {
        let platform: f64 = self
            .cores
            .iter()
            .filter(|(name, _)| {
                !name.ends_with(DEPENDENCY_SUFFIX) && name.as_str() != BENCH_PROCESS
            })
            .map(|(_, cores)| cores)
            .sum();
        let mut cores = vec![format!("platform {platform:.2}")];
        cores.extend(
            self.cores
                .iter()
                // None at all: not running here (e.g. a broker elsewhere).
                .filter(|(_, cores)| *cores > 0.0)
                .filter_map(|(name, c)| {
                    name.strip_suffix(DEPENDENCY_SUFFIX)
                        .map(|n| format!("{n} {c:.2}"))
                }),
        );
        let l = &self.ingest_to_delivery;
        format!(
            "  {:<28} {:>9.1} {:>9.1} {:>9.1} {:>9.1}   {}",
            format!("{:.0}–{:.0} s", self.start_seconds, self.end_seconds),
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            l.max_ms,
            cores.join(", ")
        )
    }
}

fn latency_row(name: &str, l: &Latency) -> String {
    format!(
        "  {name:<28} {:>9.1} {:>9.1} {:>9.1} {:>9.1}   ({} samples)",
        l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.count
    )
}

impl Report {
    pub fn table(&self) -> String {
        let s = &self.settings;
        let mut out = Vec::new();
        out.push(format!(
            "alerting bench — mode {}, {} clients, {} rules ({} % wildcard), {} alerts{}, {} instance(s) per service",
            s.mode,
            s.clients,
            s.rules,
            s.wildcard_percent,
            s.alerts,
            s.rate
                .map(|r| format!(" at {r:.0}/s"))
                .unwrap_or_else(|| " as fast as possible".to_owned()),
            s.instances
        ));
        if let Some(resolved) = s.resolved_percent {
            out.push(format!(
                "dedup keys: {} problems, {resolved} % of alerts resolved (and each problem's last); notifications count openers and resolutions",
                s.dedup_keys
            ));
        }
        if let Some(kafka) = s.kafka {
            out.push(format!(
                "kafka: {} partition(s) per topic, fetch wait {} ms, linger {} ms",
                kafka.topic_partitions,
                kafka.fetch_wait_max.as_millis(),
                kafka.linger.as_millis()
            ));
        }
        out.push(format!("machine: {}", self.machine));
        out.push(String::new());
        out.push("throughput".to_owned());
        out.push(format!(
            "  alerts in                    {:>10.0} /s   ({} alerts in {:.2} s)",
            self.alerts_per_second_in, self.alerts_sent, self.ingest_seconds
        ));
        if self.ingest_held_back > 0 {
            out.push(format!(
                "  ingest requests held back    {:>10}      (429, or 503 with Retry-After: the pipeline INGEST_MAX_BACKLOG behind)",
                self.ingest_held_back
            ));
        }
        out.push(format!(
            "  alerts end to end            {:>10.0} /s   (last delivery after {:.2} s)",
            self.alerts_per_second_end_to_end, self.run_seconds
        ));
        out.push(format!(
            "  notifications delivered      {:>10.0} /s   ({} of {} expected, {} duplicate)",
            self.notifications_per_second,
            self.notifications_delivered,
            self.notifications_expected,
            self.duplicate_deliveries
        ));
        out.push(String::new());
        out.push(format!(
            "latency (ms)                         {:>9} {:>9} {:>9} {:>9}",
            "p50", "p95", "p99", "max"
        ));
        out.push(latency_row("ingest → delivery", &self.ingest_to_delivery));
        out.push(latency_row("  ingest request", &self.ingest_request));
        out.push(latency_row("  send → stored", &self.send_to_stored));
        out.push(latency_row(
            "  stored → delivered",
            &self.stored_to_delivered,
        ));
        out.push(format!(
            "  rule change → matched        {}",
            self.rule_change_visible_ms
                .map(|ms| format!("{ms:.0} ms"))
                .unwrap_or_else(|| "not measured".to_owned())
        ));
        if !self.over_time.is_empty() {
            out.push(String::new());
            out.push(format!(
                "over time (by send)                  {:>9} {:>9} {:>9} {:>9}   cores",
                "p50", "p95", "p99", "max"
            ));
            for window in &self.over_time {
                out.push(window.row());
            }
        }
        out.push(String::new());
        out.push(format!(
            "processes                    {:>12} {:>12} {:>10}",
            "peak RSS MB", "CPU s", "cores"
        ));
        for p in &self.processes {
            out.push(format!(
                "  {:<26} {:>12} {:>12.2} {:>10.2}",
                p.name,
                if p.peak_rss_mb > 0.0 {
                    format!("{:.1}", p.peak_rss_mb)
                } else {
                    "-".to_owned()
                },
                p.cpu_seconds,
                p.cores_used
            ));
        }
        if !self.complete {
            out.push(String::new());
            out.push(format!(
                "INCOMPLETE: {} notifications never arrived",
                self.notifications_expected
                    .saturating_sub(self.notifications_delivered)
            ));
        }
        out.join("\n")
    }
}

/// One line about the machine: cores and the CPU model.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map(|kib| format!(", {:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({model}){memory}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let latency = Latency::of((1..=100).map(|ms| ms * 1_000).collect());
        assert_eq!(latency.count, 100);
        assert_eq!(latency.p50_ms, 50.0);
        assert_eq!(latency.p95_ms, 95.0);
        assert_eq!(latency.p99_ms, 99.0);
        assert_eq!(latency.max_ms, 100.0);
        assert_eq!(Latency::of(vec![]).count, 0);
        assert_eq!(Latency::of(vec![-5]).max_ms, 0.0);
    }
}
