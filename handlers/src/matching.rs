//! The rule snapshot and the index the evaluator matches alerts against.
//!
//! The index is inverted on all three fields at once: by severity, then source, then
//! name, each level with its `*` list beside the exact values. An alert visits at most
//! 2 × 2 × 2 lists, whatever the number of rules, and every rule found matches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Alert, Severity, WILDCARD};

/// Every enabled rule, as distributed to evaluators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Only moves forward.
    pub version: u64,
    pub built_at: DateTime<Utc>,
    pub rules: Vec<SnapshotRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRule {
    pub rule_id: Uuid,
    pub client_id: String,
    /// LOW, MEDIUM, HIGH, CRITICAL or `*`.
    pub severity: String,
    pub source: String,
    pub name: String,
    /// The rule's own version, for diagnostics.
    pub version: i32,
}

#[derive(Debug, Clone, Copy)]
struct RuleRef {
    rule_id: Uuid,
    client: u32,
}

#[derive(Debug, Default)]
struct NameLevel {
    exact: HashMap<Box<str>, Vec<RuleRef>>,
    any: Vec<RuleRef>,
}

#[derive(Debug, Default)]
struct SourceLevel {
    exact: HashMap<Box<str>, NameLevel>,
    any: NameLevel,
}

/// Slots 0–3 are the severities in order, slot 4 is `*`.
const ANY_SEVERITY: usize = 4;

#[derive(Debug, Default)]
pub struct MatchIndex {
    version: u64,
    rules: usize,
    by_severity: [SourceLevel; 5],
    clients: Vec<Box<str>>,
}

fn severity_slot(severity: Severity) -> usize {
    match severity {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

/// One client's matches of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMatch<'a> {
    pub client_id: &'a str,
    pub rule_ids: Vec<Uuid>,
}

impl MatchIndex {
    pub fn build(snapshot: &Snapshot) -> Self {
        let mut index = Self {
            version: snapshot.version,
            ..Self::default()
        };
        let mut client_slots: HashMap<&str, u32> = HashMap::new();
        for rule in &snapshot.rules {
            let slot = if rule.severity == WILDCARD {
                ANY_SEVERITY
            } else {
                match rule.severity.parse() {
                    Ok(severity) => severity_slot(severity),
                    // Written by our own rule-updater from validated rows; skip, never crash.
                    Err(_) => continue,
                }
            };
            let next = index.clients.len() as u32;
            let client = *client_slots.entry(&rule.client_id).or_insert_with(|| {
                index.clients.push(rule.client_id.as_str().into());
                next
            });
            let by_source = &mut index.by_severity[slot];
            let by_name = if rule.source == WILDCARD {
                &mut by_source.any
            } else {
                by_source
                    .exact
                    .entry(rule.source.as_str().into())
                    .or_default()
            };
            let list = if rule.name == WILDCARD {
                &mut by_name.any
            } else {
                by_name.exact.entry(rule.name.as_str().into()).or_default()
            };
            list.push(RuleRef {
                rule_id: rule.rule_id,
                client,
            });
            index.rules += 1;
        }
        index
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Every client with a matching rule, each with all of its matching rules.
    pub fn matches(&self, alert: &Alert) -> Vec<ClientMatch<'_>> {
        let mut found: Vec<RuleRef> = Vec::new();
        for slot in [severity_slot(alert.severity), ANY_SEVERITY] {
            let by_source = &self.by_severity[slot];
            for by_name in [
                by_source.exact.get(alert.source.as_str()),
                Some(&by_source.any),
            ]
            .into_iter()
            .flatten()
            {
                for list in [by_name.exact.get(alert.name.as_str()), Some(&by_name.any)]
                    .into_iter()
                    .flatten()
                {
                    found.extend_from_slice(list);
                }
            }
        }
        found.sort_unstable_by_key(|rule| (rule.client, rule.rule_id));
        let mut matches: Vec<ClientMatch<'_>> = Vec::new();
        for rule in found {
            let client_id: &str = &self.clients[rule.client as usize];
            match matches.last_mut() {
                Some(last) if last.client_id == client_id => last.rule_ids.push(rule.rule_id),
                _ => matches.push(ClientMatch {
                    client_id,
                    rule_ids: vec![rule.rule_id],
                }),
            }
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(client: &str, severity: &str, source: &str, name: &str) -> SnapshotRule {
        SnapshotRule {
            rule_id: Uuid::new_v4(),
            client_id: client.into(),
            severity: severity.into(),
            source: source.into(),
            name: name.into(),
            version: 1,
        }
    }

    fn alert(severity: Severity, source: &str, name: &str) -> Alert {
        Alert {
            alert_id: "a".into(),
            event_ts: Utc::now(),
            severity,
            source: source.into(),
            name: name.into(),
            context: Default::default(),
        }
    }

    /// The definition, checked rule by rule: what the index must agree with.
    fn naive(rules: &[SnapshotRule], alert: &Alert) -> Vec<(String, Vec<Uuid>)> {
        let mut by_client: std::collections::BTreeMap<String, Vec<Uuid>> = Default::default();
        for rule in rules {
            let ok = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            if ok(&rule.severity, alert.severity.as_str())
                && ok(&rule.source, &alert.source)
                && ok(&rule.name, &alert.name)
            {
                by_client
                    .entry(rule.client_id.clone())
                    .or_default()
                    .push(rule.rule_id);
            }
        }
        by_client
            .into_iter()
            .map(|(client, mut ids)| {
                ids.sort();
                (client, ids)
            })
            .collect()
    }

    #[test]
    fn the_index_agrees_with_the_definition_on_every_combination() {
        let severities = ["LOW", "MEDIUM", "HIGH", "CRITICAL", "*"];
        let values = ["a", "b", "*"];
        let mut rules = Vec::new();
        for (i, severity) in severities.iter().enumerate() {
            for source in values {
                for name in values {
                    let client = ["c1", "c2", "c3"][(i + source.len() + name.len()) % 3];
                    rules.push(rule(client, severity, source, name));
                }
            }
        }
        let snapshot = Snapshot {
            version: 7,
            built_at: Utc::now(),
            rules: rules.clone(),
        };
        let index = MatchIndex::build(&snapshot);
        assert_eq!(index.len(), rules.len());
        assert_eq!(index.version(), 7);
        for severity in Severity::ALL {
            for source in ["a", "b", "c"] {
                for name in ["a", "b", "c"] {
                    let alert = alert(severity, source, name);
                    let mut got: Vec<(String, Vec<Uuid>)> = index
                        .matches(&alert)
                        .into_iter()
                        .map(|m| {
                            let mut ids = m.rule_ids;
                            ids.sort();
                            (m.client_id.to_owned(), ids)
                        })
                        .collect();
                    got.sort();
                    assert_eq!(got, naive(&rules, &alert), "{severity} {source} {name}");
                }
            }
        }
    }

    #[test]
    fn one_entry_per_client_with_all_its_rules() {
        let a = rule("acme", "HIGH", "payments", "*");
        let b = rule("acme", "*", "payments", "declined");
        let c = rule("other", "*", "*", "*");
        let snapshot = Snapshot {
            version: 1,
            built_at: Utc::now(),
            rules: vec![a.clone(), b.clone(), c.clone()],
        };
        let index = MatchIndex::build(&snapshot);
        let matches = index.matches(&alert(Severity::High, "payments", "declined"));
        assert_eq!(matches.len(), 2);
        let acme = matches
            .iter()
            .find(|m| m.client_id == "acme")
            .expect("acme matched");
        let mut ids = acme.rule_ids.clone();
        ids.sort();
        let mut expected = vec![a.rule_id, b.rule_id];
        expected.sort();
        assert_eq!(ids, expected);
        assert!(
            index
                .matches(&alert(Severity::Low, "billing", "x"))
                .iter()
                .all(|m| m.client_id == "other")
        );
    }

    #[test]
    fn matching_is_case_sensitive_on_source_and_name() {
        let snapshot = Snapshot {
            version: 1,
            built_at: Utc::now(),
            rules: vec![rule("acme", "LOW", "Payments", "*")],
        };
        let index = MatchIndex::build(&snapshot);
        assert!(
            index
                .matches(&alert(Severity::Low, "payments", "x"))
                .is_empty()
        );
        assert_eq!(
            index.matches(&alert(Severity::Low, "Payments", "x")).len(),
            1
        );
    }
}
