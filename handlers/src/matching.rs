//! The rule snapshot and the index the evaluator matches alerts against.
//!
//! The index is inverted on all three fields at once: one list per (severity, source,
//! name) pattern, `*` being a value like any other. An alert looks up at most
//! 2 × 2 × 2 patterns (each field's own value and `*`), whatever the number of rules,
//! and every rule found matches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{Alert, Severity, WILDCARD},
    snapshot_format::{
        ANY_SEVERITY, EncodedSnapshot, RuleFields, SnapshotFormatError, SnapshotWriter,
        parse_severity, severity_code,
    },
};

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

impl Snapshot {
    /// The rules as the stored form carries them. A rule with an unknown severity is
    /// left out: snapshots are written by our own rule-updater from validated rows, and
    /// one bad row must never stop matching.
    fn fields(&self) -> impl Iterator<Item = RuleFields<'_>> {
        self.rules.iter().filter_map(|rule| {
            Some(RuleFields {
                rule_id: rule.rule_id,
                client_id: &rule.client_id,
                severity: parse_severity(&rule.severity).ok()?,
                source: &rule.source,
                name: &rule.name,
                version: rule.version,
            })
        })
    }

    pub fn encode(&self) -> EncodedSnapshot {
        let mut writer = SnapshotWriter::new();
        for rule in self.fields() {
            writer.push(rule);
        }
        writer.finish(self.version, self.built_at)
    }

    pub fn decode(encoded: &EncodedSnapshot) -> Result<Self, SnapshotFormatError> {
        let decoded = encoded.decode()?;
        let rules = decoded
            .rules()
            .map(|rule| {
                rule.map(|rule| SnapshotRule {
                    rule_id: rule.rule_id,
                    client_id: rule.client_id.to_owned(),
                    severity: rule.severity.map_or(WILDCARD, Severity::as_str).to_owned(),
                    source: rule.source.to_owned(),
                    name: rule.name.to_owned(),
                    version: rule.version,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            version: decoded.version,
            built_at: decoded.built_at,
            rules,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct RuleRef {
    rule_id: Uuid,
    client: u32,
}

/// The string id of `*` in a source or name position.
const ANY: u32 = u32::MAX;

/// Severity slot, source id, name id: one list of rules per combination in use.
type Pattern = (u8, u32, u32);

/// Patterns are our own small numbers, never input, so they need no protection from
/// chosen collisions (the strings map, which alerts reach, keeps std's SipHash). The
/// FxHash step: matching does eight of these lookups per alert.
#[derive(Default)]
struct PatternHasher(u64);

impl std::hash::Hasher for PatternHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type PatternMap = HashMap<Pattern, (u32, u32), std::hash::BuildHasherDefault<PatternHasher>>;

/// Every rule sits in one flat array, grouped by pattern; a pattern maps to its range.
/// Source and name strings are stored once and patterns refer to them by number, so an
/// index of 100,000 rules is a few megabytes and two of them (the serving one and the
/// next, during a swap) fit beside each other in a small task.
#[derive(Debug, Default)]
pub struct MatchIndex {
    version: u64,
    strings: HashMap<Box<str>, u32>,
    patterns: PatternMap,
    rules: Vec<RuleRef>,
    clients: Vec<Box<str>>,
    /// A client's number in `clients`, to match an owned alert against its rules only.
    client_numbers: HashMap<Box<str>, u32>,
}

/// One client's matches of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMatch<'a> {
    pub client_id: &'a str,
    pub rule_ids: Vec<Uuid>,
}

/// Collects rules with their patterns, interning strings as it goes, then sorts them
/// into the index's flat array.
struct IndexBuilder<'a> {
    version: u64,
    strings: HashMap<&'a str, u32>,
    clients: HashMap<&'a str, u32>,
    entries: Vec<(Pattern, RuleRef)>,
}

impl<'a> IndexBuilder<'a> {
    fn new(version: u64, rules: usize) -> Self {
        Self {
            version,
            strings: HashMap::new(),
            clients: HashMap::new(),
            entries: Vec::with_capacity(rules),
        }
    }

    fn string(&mut self, value: &'a str) -> u32 {
        if value == WILDCARD {
            return ANY;
        }
        let next = self.strings.len() as u32;
        *self.strings.entry(value).or_insert(next)
    }

    fn add(&mut self, rule: RuleFields<'a>) {
        let next = self.clients.len() as u32;
        let client = *self.clients.entry(rule.client_id).or_insert(next);
        let pattern = (
            severity_code(rule.severity),
            self.string(rule.source),
            self.string(rule.name),
        );
        self.entries.push((
            pattern,
            RuleRef {
                rule_id: rule.rule_id,
                client,
            },
        ));
    }

    fn finish(mut self) -> MatchIndex {
        self.entries.sort_unstable_by_key(|(pattern, _)| *pattern);
        let mut patterns = PatternMap::default();
        let mut rules = Vec::with_capacity(self.entries.len());
        for (pattern, rule) in self.entries {
            let at = rules.len() as u32;
            patterns.entry(pattern).or_insert((at, 0)).1 += 1;
            rules.push(rule);
        }
        let mut clients = vec![Box::<str>::default(); self.clients.len()];
        let mut client_numbers = HashMap::with_capacity(self.clients.len());
        for (client, slot) in self.clients {
            clients[slot as usize] = client.into();
            client_numbers.insert(client.into(), slot);
        }
        MatchIndex {
            version: self.version,
            strings: self
                .strings
                .into_iter()
                .map(|(value, id)| (value.into(), id))
                .collect(),
            patterns,
            rules,
            clients,
            client_numbers,
        }
    }
}

impl MatchIndex {
    pub fn build(snapshot: &Snapshot) -> Self {
        let mut builder = IndexBuilder::new(snapshot.version, snapshot.rules.len());
        for rule in snapshot.fields() {
            builder.add(rule);
        }
        builder.finish()
    }

    /// Builds the index straight from the stored form, with no copy of the rules
    /// between: the bytes, the index, and nothing else.
    pub fn from_encoded(encoded: &EncodedSnapshot) -> Result<Self, SnapshotFormatError> {
        let decoded = encoded.decode()?;
        let mut builder = IndexBuilder::new(decoded.version, decoded.len());
        for rule in decoded.rules() {
            builder.add(rule?);
        }
        Ok(builder.finish())
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every client with a matching rule, each with all of its matching rules. An alert
    /// with an owner is matched against its owner's rules only: another client's
    /// catch-all rule never sees it.
    pub fn matches(&self, alert: &Alert) -> Vec<ClientMatch<'_>> {
        let owner = match &alert.owner {
            None => None,
            Some(owner) => match self.client_numbers.get(owner.as_str()) {
                Some(&number) => Some(number),
                // The owner has no enabled rule: nothing can match.
                None => return Vec::new(),
            },
        };
        // A value no rule names can still match the rules with `*` there.
        let id = |value: &str| self.strings.get(value).copied();
        let sources = [id(alert.source.as_str()), Some(ANY)];
        let names = [id(alert.name.as_str()), Some(ANY)];
        let mut found: Vec<RuleRef> = Vec::new();
        for slot in [severity_code(Some(alert.severity)), ANY_SEVERITY] {
            for source in sources.into_iter().flatten() {
                for name in names.into_iter().flatten() {
                    if let Some(&(at, count)) = self.patterns.get(&(slot, source, name)) {
                        let rules = &self.rules[at as usize..(at + count) as usize];
                        match owner {
                            None => found.extend_from_slice(rules),
                            Some(owner) => {
                                found.extend(rules.iter().filter(|rule| rule.client == owner))
                            }
                        }
                    }
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
            owner: None,
            alert_id: "a".into(),
            event_ts: Utc::now(),
            severity,
            source: source.into(),
            name: name.into(),
            context: Default::default(),
            dedup_key: None,
            status: Default::default(),
        }
    }

    /// The definition, checked rule by rule: what the index must agree with.
    fn naive(rules: &[SnapshotRule], alert: &Alert) -> Vec<(String, Vec<Uuid>)> {
        let mut by_client: std::collections::BTreeMap<String, Vec<Uuid>> = Default::default();
        for rule in rules {
            let ok = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            let visible = alert
                .owner
                .as_ref()
                .is_none_or(|owner| owner.as_str() == rule.client_id);
            if visible
                && ok(&rule.severity, alert.severity.as_str())
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
            // The stored form keeps milliseconds.
            built_at: DateTime::from_timestamp_millis(Utc::now().timestamp_millis())
                .expect("now is representable"),
            rules: rules.clone(),
        };
        let built = MatchIndex::build(&snapshot);
        let encoded = snapshot.encode();
        assert_eq!(Snapshot::decode(&encoded).expect("decodes"), snapshot);
        let from_encoded = MatchIndex::from_encoded(&encoded).expect("decodes");
        for index in [built, from_encoded] {
            assert_eq!(index.len(), rules.len());
            assert_eq!(index.version(), 7);
            agrees_with_the_definition(&index, &rules);
        }
    }

    fn agrees_with_the_definition(index: &MatchIndex, rules: &[SnapshotRule]) {
        for severity in Severity::ALL {
            for source in ["a", "b", "c"] {
                for (name, owner) in ["a", "b", "c"].into_iter().flat_map(|name| {
                    [None, Some("c1"), Some("c3"), Some("nobody")].map(|o| (name, o))
                }) {
                    let alert = alert(severity, source, name)
                        .owned_by(owner.map(|o| crate::domain::ClientId::parse(o).expect("id")));
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
                    assert_eq!(
                        got,
                        naive(rules, &alert),
                        "{severity} {source} {name} owned by {owner:?}"
                    );
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
