//! The run over time: latency and each process's CPU between marks, and what each
//! process used in all.

use super::processes::Usage;
use super::receiver::Arrival;
use super::report::{Latency, ProcessReport, Window};
use chrono::{DateTime, Utc};

pub(super) fn process_reports(
    names: &[String],
    before: &[Usage],
    after: &[Usage],
    seconds: f64,
) -> Vec<ProcessReport> {
    names
        .iter()
        .zip(before.iter().zip(after))
        .map(|(name, (before, after))| {
            let cpu = (after.cpu_seconds - before.cpu_seconds).max(0.0);
            ProcessReport {
                name: name.clone(),
                peak_rss_mb: after.peak_rss_bytes as f64 / 1_048_576.0,
                cpu_seconds: cpu,
                cores_used: cpu / seconds.max(1e-9),
            }
        })
        // A dependency that is not on this machine (the broker elsewhere) says nothing.
        .filter(|p| p.peak_rss_mb > 0.0 || p.cpu_seconds > 0.0)
        .collect()
}

/// The run cut at `marks` (seconds since the first send, and every process's usage
/// then; the first at 0, the last at the end): the latency of the alerts sent between
/// two marks and the cores each process used between them. A last stretch shorter than
/// half the one before joins it, so that the drain after the last send does not stand
/// alone. Nothing when the run is one stretch.
pub(super) fn over_time(
    names: &[String],
    arrivals: &[Arrival],
    wall_start: DateTime<Utc>,
    mut marks: Vec<(f64, Vec<Usage>)>,
) -> Vec<Window> {
    if marks.len() > 3 {
        let n = marks.len();
        let (last, before_last, earlier) = (marks[n - 1].0, marks[n - 2].0, marks[n - 3].0);
        if last - before_last < (before_last - earlier) / 2.0 {
            marks.remove(n - 2);
        }
    }
    if marks.len() < 3 {
        return Vec::new();
    }
    let sent_after =
        |a: &Arrival| (a.event_ts - wall_start).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let stretches = marks.len() - 1;
    marks
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let ((start, before), (end, after)) = (&pair[0], &pair[1]);
            let seconds = (end - start).max(1e-9);
            let latencies = arrivals
                .iter()
                .filter(|a| {
                    let sent = sent_after(a);
                    (i == 0 || sent >= *start) && (i + 1 == stretches || sent < *end)
                })
                .map(|a| {
                    (a.arrived_at - a.event_ts)
                        .num_microseconds()
                        .unwrap_or(i64::MAX)
                })
                .collect();
            Window {
                start_seconds: *start,
                end_seconds: *end,
                ingest_to_delivery: Latency::of(latencies),
                cores: names
                    .iter()
                    .zip(before.iter().zip(after))
                    .map(|(name, (b, a))| {
                        (
                            name.clone(),
                            (a.cpu_seconds - b.cpu_seconds).max(0.0) / seconds,
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(start: DateTime<Utc>, sent_ms: i64, latency_ms: i64) -> Arrival {
        let event_ts = start + chrono::TimeDelta::milliseconds(sent_ms);
        Arrival {
            client_id: "c".into(),
            alert_id: format!("a{sent_ms}"),
            event_ts,
            created_at: event_ts,
            arrived_at: event_ts + chrono::TimeDelta::milliseconds(latency_ms),
            resolution: false,
        }
    }

    fn mark(seconds: f64, cpu: [f64; 2]) -> (f64, Vec<Usage>) {
        let usage = |cpu_seconds| Usage {
            cpu_seconds,
            ..Usage::default()
        };
        (seconds, vec![usage(cpu[0]), usage(cpu[1])])
    }

    #[test]
    fn the_run_is_cut_by_send_time_and_a_short_tail_joins_the_stretch_before() {
        let start = Utc::now();
        let names = ["evaluator 1".to_owned(), "tansu (all processes)".to_owned()];
        let arrivals = [
            arrival(start, 1_000, 50),
            arrival(start, 15_000, 300),
            arrival(start, 20_200, 100),
        ];
        let marks = vec![
            mark(0.0, [0.0, 0.0]),
            mark(10.0, [1.0, 2.0]),
            mark(20.0, [2.0, 6.0]),
            mark(21.0, [2.5, 9.0]),
        ];
        let windows = over_time(&names, &arrivals, start, marks);
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].ingest_to_delivery.count, 1);
        assert_eq!(windows[0].ingest_to_delivery.max_ms, 50.0);
        assert_eq!(windows[1].ingest_to_delivery.count, 2);
        assert_eq!(windows[1].ingest_to_delivery.max_ms, 300.0);
        assert_eq!(windows[1].end_seconds, 21.0);
        assert_eq!(windows[0].cores[1], (names[1].clone(), 0.2));
        assert!((windows[1].cores[1].1 - 7.0 / 11.0).abs() < 1e-9);
        assert!(windows[1].row().contains("platform 0.14, tansu 0.64"));
    }

    #[test]
    fn a_run_of_one_stretch_has_no_breakdown() {
        let start = Utc::now();
        let names = ["evaluator 1".to_owned(), "tansu (all processes)".to_owned()];
        let marks = vec![mark(0.0, [0.0, 0.0]), mark(4.0, [1.0, 2.0])];
        assert!(over_time(&names, &[arrival(start, 10, 5)], start, marks).is_empty());
    }
}
