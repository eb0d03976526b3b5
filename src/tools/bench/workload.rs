//! What the bench sets up and sends: clients, a mix of exact and wildcard rules over a
//! fixed space of (severity, source, name), and a seeded sequence of alerts. The
//! matches each alert should produce are worked out here with the platform's own
//! index, so the bench knows how many deliveries to wait for.

use alerting_handlers::{
    domain::{Alert, Severity},
    matching::{MatchIndex, Snapshot, SnapshotRule},
};
use chrono::Utc;
use uuid::Uuid;

const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/// A small, fast, seeded generator (SplitMix64): the same seed gives the same rules
/// and alerts on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    pub client: usize,
    pub severity: String,
    pub source: String,
    pub name: String,
}

/// The alert space: 4 severities × `sources` × `names`. It grows with the number of
/// rules so that an alert matches about the same number of rules at any size.
#[derive(Debug, Clone, Copy)]
pub struct Space {
    pub sources: usize,
    pub names: usize,
}

impl Space {
    pub fn for_rules(rules: usize) -> Self {
        let side = ((rules as f64).sqrt().ceil() as usize).max(10);
        Self {
            sources: side,
            names: side,
        }
    }

    pub fn source(&self, n: usize) -> String {
        format!("svc-{n:04}")
    }

    pub fn name(&self, n: usize) -> String {
        format!("check-{n:04}")
    }
}

pub struct Workload {
    pub clients: Vec<String>,
    pub rules: Vec<RuleSpec>,
    pub space: Space,
    seed: u64,
}

/// One alert of the run, without its timestamp (set when it is sent).
#[derive(Debug, Clone)]
pub struct AlertSpec {
    pub severity: &'static str,
    pub source: String,
    pub name: String,
    /// The problem it is an alert of (`--dedup-keys`): its dedup key is `key-<n>`.
    pub dedup_key: Option<usize>,
    /// A resolved alert of its problem.
    pub resolved: bool,
}

impl Workload {
    /// `wildcard_percent` of the rules have a `*`: nine in ten of those match any
    /// severity, one in ten any name (the broadest kind: it matches 1 in 4 × sources
    /// alerts). The rest are exact. A client never holds the same rule twice.
    pub fn new(run: &str, clients: usize, rules: usize, wildcard_percent: u8, seed: u64) -> Self {
        let clients: Vec<String> = (0..clients.max(1))
            .map(|n| format!("bench-{run}-{n:05}"))
            .collect();
        let space = Space::for_rules(rules);
        let mut rng = Rng::new(seed);
        let mut seen = std::collections::HashSet::new();
        let mut specs = Vec::with_capacity(rules);
        let wildcards = rules * usize::from(wildcard_percent.min(100)) / 100;
        while specs.len() < rules {
            let n = specs.len();
            let source = space.source(rng.below(space.sources));
            let name = space.name(rng.below(space.names));
            let severity = SEVERITIES[rng.below(4)].to_owned();
            let (severity, name) = if n < wildcards {
                if n % 10 == 9 {
                    (severity, "*".to_owned())
                } else {
                    ("*".to_owned(), name)
                }
            } else {
                (severity, name)
            };
            let spec = RuleSpec {
                client: n % clients.len(),
                severity,
                source,
                name,
            };
            if seen.insert(spec.clone()) {
                specs.push(spec);
            }
        }
        Self {
            clients,
            rules: specs,
            space,
            seed,
        }
    }

    /// The alerts of the run, in order.
    pub fn alerts(&self, count: usize) -> Vec<AlertSpec> {
        let mut rng = Rng::new(self.seed ^ 0xA1E7);
        (0..count)
            .map(|_| AlertSpec {
                severity: SEVERITIES[rng.below(4)],
                source: self.space.source(rng.below(self.space.sources)),
                name: self.space.name(rng.below(self.space.names)),
                dedup_key: None,
                resolved: false,
            })
            .collect()
    }

    /// The alerts of a run with dedup keys: `keys` problems, each with its own severity,
    /// source and name (as a fingerprint of labels is a key); every alert is one of
    /// them, `resolved_percent` of them resolved ones, and each problem's last alert
    /// resolves it, so the run ends with deliveries (an end the bench can see).
    pub fn keyed_alerts(&self, count: usize, keys: usize, resolved_percent: u8) -> Vec<AlertSpec> {
        let problems = self.alerts(keys.max(1));
        let mut rng = Rng::new(self.seed ^ 0xDED0);
        let mut alerts: Vec<AlertSpec> = (0..count)
            .map(|_| {
                let key = rng.below(problems.len());
                AlertSpec {
                    dedup_key: Some(key),
                    resolved: rng.below(100) < usize::from(resolved_percent),
                    ..problems[key].clone()
                }
            })
            .collect();
        let mut last = std::collections::HashMap::new();
        for (n, alert) in alerts.iter().enumerate() {
            last.insert(alert.dedup_key, n);
        }
        for n in last.into_values() {
            alerts[n].resolved = true;
        }
        alerts
    }

    /// The platform's own index over these rules.
    pub fn index(&self) -> MatchIndex {
        let snapshot = Snapshot {
            version: 1,
            built_at: Utc::now(),
            rules: self
                .rules
                .iter()
                .map(|rule| SnapshotRule {
                    rule_id: Uuid::new_v4(),
                    client_id: self.clients[rule.client].clone(),
                    severity: rule.severity.clone(),
                    source: rule.source.clone(),
                    name: rule.name.clone(),
                    version: 1,
                })
                .collect(),
        };
        MatchIndex::build(&snapshot)
    }

    /// The deliveries each alert should make: one per client it matches; with dedup
    /// keys, one per client whose notification of the key it opens (the rest fold), and
    /// a resolved alert one per client whose open notification it resolves. Alerts of a
    /// key are sent, and so applied, in order.
    pub fn expected(&self, index: &MatchIndex, alerts: &[AlertSpec]) -> Vec<u32> {
        let mut open: std::collections::HashSet<(usize, String)> = Default::default();
        alerts
            .iter()
            .map(|spec| {
                let matches = index.matches(&to_alert(spec));
                let Some(key) = spec.dedup_key else {
                    return matches.len() as u32;
                };
                matches
                    .iter()
                    .filter(|m| {
                        let pair = (key, m.client_id.to_owned());
                        if spec.resolved {
                            open.remove(&pair)
                        } else {
                            open.insert(pair)
                        }
                    })
                    .count() as u32
            })
            .collect()
    }
}

pub fn to_alert(spec: &AlertSpec) -> Alert {
    Alert {
        owner: None,
        alert_id: String::new(),
        event_ts: Utc::now(),
        severity: spec.severity.parse().unwrap_or(Severity::Low),
        source: spec.source.clone(),
        name: spec.name.clone(),
        context: Default::default(),
        dedup_key: None,
        status: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        let first = Workload::new("a", 10, 500, 10, 7);
        let second = Workload::new("a", 10, 500, 10, 7);
        assert_eq!(first.rules, second.rules);
        let alerts: Vec<_> = first.alerts(50).into_iter().map(|a| a.source).collect();
        let again: Vec<_> = second.alerts(50).into_iter().map(|a| a.source).collect();
        assert_eq!(alerts, again);
    }

    #[test]
    fn rules_are_distinct_and_the_wildcard_share_is_kept() {
        let workload = Workload::new("a", 7, 1_000, 10, 3);
        assert_eq!(workload.rules.len(), 1_000);
        let distinct: std::collections::HashSet<_> = workload.rules.iter().collect();
        assert_eq!(distinct.len(), 1_000);
        let any_severity = workload.rules.iter().filter(|r| r.severity == "*").count();
        let any_name = workload.rules.iter().filter(|r| r.name == "*").count();
        assert_eq!((any_severity, any_name), (90, 10));
    }

    #[test]
    fn expected_matches_agree_with_a_rule_by_rule_check() {
        let workload = Workload::new("a", 5, 300, 20, 11);
        let alerts = workload.alerts(400);
        let expected = workload.expected(&workload.index(), &alerts);
        for (alert, expected) in alerts.iter().zip(expected) {
            let clients: std::collections::HashSet<usize> = workload
                .rules
                .iter()
                .filter(|r| {
                    (r.severity == "*" || r.severity == alert.severity)
                        && r.source == alert.source
                        && (r.name == "*" || r.name == alert.name)
                })
                .map(|r| r.client)
                .collect();
            assert_eq!(clients.len() as u32, expected);
        }
    }

    #[test]
    fn keyed_alerts_open_once_fold_and_resolve_in_order() {
        let workload = Workload::new("a", 5, 300, 20, 11);
        let alerts = workload.keyed_alerts(2_000, 20, 3);
        let mut last = std::collections::HashMap::new();
        for alert in &alerts {
            let key = alert.dedup_key.expect("keyed");
            let labels = (alert.severity, alert.source.clone(), alert.name.clone());
            assert_eq!(
                *last.entry(key).or_insert_with(|| labels.clone()),
                labels,
                "a problem keeps its labels"
            );
        }
        for key in last.keys() {
            let final_alert = alerts
                .iter()
                .rev()
                .find(|a| a.dedup_key == Some(*key))
                .expect("an alert");
            assert!(
                final_alert.resolved,
                "each problem's last alert resolves it"
            );
        }
        // One problem, sent as firing, firing, resolved, firing: the first opens, the
        // second folds, the third resolves, the fourth opens again.
        let index = workload.index();
        let mut problem = alerts
            .iter()
            .find(|a| !index.matches(&to_alert(a)).is_empty())
            .cloned()
            .expect("a problem some client's rule matches");
        let clients = index.matches(&to_alert(&problem)).len() as u32;
        let mut sequence = Vec::new();
        for resolved in [false, false, true, false] {
            problem.resolved = resolved;
            sequence.push(problem.clone());
        }
        assert_eq!(
            workload.expected(&index, &sequence),
            [clients, 0, clients, clients]
        );
    }
}
