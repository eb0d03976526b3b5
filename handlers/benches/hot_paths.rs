//! The evaluator's hot paths: matching an alert against the rule index, building and
//! loading the snapshot, and encoding and decoding events.
//!
//! `cargo bench -p alerting-handlers` (add `-- matching` for one group).

use std::hint::black_box;

use alerting_handlers::{
    domain::{Alert, Severity},
    events::{AlertEvent, AlertMatchedEvent, NotificationReadyEvent},
    matching::{MatchIndex, Snapshot, SnapshotRule},
};
use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use uuid::Uuid;

const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/// SplitMix64: the same rules on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn rule(client: String, severity: &str, source: &str, name: &str) -> SnapshotRule {
    SnapshotRule {
        rule_id: Uuid::new_v4(),
        client_id: client,
        severity: severity.to_owned(),
        source: source.to_owned(),
        name: name.to_owned(),
        version: 1,
    }
}

/// `total` rules of 1,000 clients over a space of sources and names (10 % with a
/// wildcard); `matching` more, each of its own client, match the probe alert
/// (HIGH, payments, timeout) exactly or through a wildcard.
fn snapshot(total: usize, matching: usize) -> Snapshot {
    let side = ((total as f64).sqrt().ceil() as usize).max(10);
    let mut rng = Rng(42);
    let mut rules = Vec::with_capacity(total + matching);
    for n in 0..total.saturating_sub(matching) {
        let client = format!("client-{:04}", n % 1_000);
        let severity = SEVERITIES[rng.below(4)];
        let source = format!("svc-{:04}", rng.below(side));
        let name = format!("check-{:04}", rng.below(side));
        rules.push(match n % 10 {
            0 => rule(client, "*", &source, &name),
            _ => rule(client, severity, &source, &name),
        });
    }
    let patterns = [
        ("HIGH", "payments", "timeout"),
        ("*", "payments", "timeout"),
        ("HIGH", "payments", "*"),
        ("HIGH", "*", "*"),
        ("*", "*", "timeout"),
    ];
    for n in 0..matching {
        let (severity, source, name) = patterns[n % patterns.len()];
        rules.push(rule(format!("matching-{n:03}"), severity, source, name));
    }
    Snapshot {
        version: 1,
        built_at: Utc::now(),
        rules,
    }
}

fn alert(severity: Severity, source: String, name: String) -> Alert {
    Alert {
        owner: None,
        alert_id: Uuid::new_v4().to_string(),
        event_ts: Utc::now(),
        severity,
        source,
        name,
        context: [("host".to_owned(), "node-17".to_owned())].into(),
        dedup_key: None,
        status: Default::default(),
    }
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("matching");
    let probe = alert(Severity::High, "payments".into(), "timeout".into());
    for rules in [1_000, 10_000, 100_000] {
        for clients in [1, 10, 100] {
            let index = MatchIndex::build(&snapshot(rules, clients));
            assert_eq!(index.matches(&probe).len(), clients);
            group.throughput(Throughput::Elements(1));
            group.bench_with_input(
                BenchmarkId::new(format!("{rules}_rules"), format!("{clients}_clients")),
                &index,
                |b, index| b.iter(|| index.matches(black_box(&probe))),
            );
        }
    }
    // A stream of alerts drawn from the rules' own space: most match a rule or two.
    let index = MatchIndex::build(&snapshot(100_000, 0));
    let mut rng = Rng(7);
    let stream: Vec<Alert> = (0..1_000)
        .map(|_| {
            alert(
                [
                    Severity::Low,
                    Severity::Medium,
                    Severity::High,
                    Severity::Critical,
                ][rng.below(4)],
                format!("svc-{:04}", rng.below(317)),
                format!("check-{:04}", rng.below(317)),
            )
        })
        .collect();
    group.throughput(Throughput::Elements(stream.len() as u64));
    group.bench_function("100000_rules/stream_of_1000_alerts", |b| {
        b.iter(|| {
            stream
                .iter()
                .map(|alert| index.matches(black_box(alert)).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_100000_rules");
    group.sample_size(10);
    let snapshot = snapshot(100_000, 0);
    let encoded = snapshot.encode();
    group.throughput(Throughput::Elements(snapshot.rules.len() as u64));
    group.bench_function("build_index", |b| {
        b.iter(|| MatchIndex::build(black_box(&snapshot)))
    });
    group.bench_function("encode", |b| {
        b.iter(|| black_box(&snapshot).encode().as_bytes().len())
    });
    group.bench_function("load (decode and build)", |b| {
        b.iter(|| MatchIndex::from_encoded(black_box(&encoded)).expect("decodes"))
    });
    group.finish();
}

fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(1));
    let alert = alert(Severity::High, "payments".into(), "timeout".into());
    let new = AlertEvent::message(&alert).payload;
    let rule_ids = vec![Uuid::new_v4(), Uuid::new_v4()];
    let matched = AlertMatchedEvent::message(&alert, "acme", rule_ids.clone()).payload;
    let ready = NotificationReadyEvent::message(Uuid::new_v4(), "acme", &alert.alert_id).payload;
    group.bench_function("alerts.new/encode", |b| {
        b.iter(|| AlertEvent::message(black_box(&alert)))
    });
    group.bench_function("alerts.new/decode", |b| {
        b.iter(|| AlertEvent::decode(black_box(&new)))
    });
    group.bench_function("alerts.matched/encode", |b| {
        b.iter(|| AlertMatchedEvent::message(black_box(&alert), "acme", rule_ids.clone()))
    });
    group.bench_function("alerts.matched/decode", |b| {
        b.iter(|| AlertMatchedEvent::decode(black_box(&matched)))
    });
    group.bench_function("notifications.ready/decode", |b| {
        b.iter(|| NotificationReadyEvent::decode(black_box(&ready)))
    });
    group.finish();
}

criterion_group!(benches, matching, snapshots, events);
criterion_main!(benches);
