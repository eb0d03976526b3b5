//! The rule snapshot as it is stored and shipped: a compact binary form that the
//! evaluator builds its index from directly.
//!
//! JSON made every evaluator hold the text (15 MB for 100,000 rules), a decoded copy with
//! a `String` per field of every rule, and the index, all at once. Here every distinct
//! string (client id, source, name) is written once and a rule is 33 bytes of fixed
//! fields that point into that table, so 100,000 rules take about 3.5 MB and decoding
//! allocates nothing per rule.
//!
//! Layout, little-endian: magic `ALRS`, format `1` (u8), snapshot version (u64), built at
//! (i64, ms since the epoch), string count (u32) and each string as length (u32) and
//! UTF-8 bytes, rule count (u32) and each rule as id (16 bytes), client (u32 string
//! index), severity (u8: 0–3 LOW…CRITICAL, 4 `*`), source (u32), name (u32), rule
//! version (i32).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{InvalidValue, Severity, WILDCARD};

const MAGIC: &[u8; 4] = b"ALRS";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 8 + 8;
const RULE_LEN: usize = 16 + 4 + 1 + 4 + 4 + 4;
/// The severity code of `*`; 0–3 are [`Severity::ALL`] in order.
pub const ANY_SEVERITY: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotFormatError {
    #[error("not a rule snapshot (written by an older version of the platform?)")]
    UnknownFormat,
    #[error("the snapshot ends early, at byte {0}")]
    Truncated(usize),
    #[error("string {0} of the snapshot is not UTF-8")]
    NotUtf8(u32),
    #[error("rule {rule} of the snapshot points at string {string}, past the table")]
    BadString { rule: u32, string: u32 },
    #[error("rule {rule} of the snapshot has an unknown severity code {code}")]
    BadSeverity { rule: u32, code: u8 },
    #[error("{0} bytes after the last rule of the snapshot")]
    TrailingBytes(usize),
}

/// A snapshot in its stored form. Its version is read from the header when it is
/// made, so a store can compare versions without decoding the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSnapshot {
    version: u64,
    bytes: Vec<u8>,
}

impl EncodedSnapshot {
    /// Checks the header; the rules are checked when they are decoded.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SnapshotFormatError> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC || bytes[4] != FORMAT {
            return Err(SnapshotFormatError::UnknownFormat);
        }
        let mut version = [0; 8];
        version.copy_from_slice(&bytes[5..13]);
        Ok(Self {
            version: u64::from_le_bytes(version),
            bytes,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The rules, each borrowing its strings from the encoded bytes.
    pub fn decode(&self) -> Result<DecodedSnapshot<'_>, SnapshotFormatError> {
        DecodedSnapshot::parse(&self.bytes)
    }
}

/// One rule as the snapshot carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleFields<'a> {
    pub rule_id: Uuid,
    pub client_id: &'a str,
    /// `None` is `*`.
    pub severity: Option<Severity>,
    pub source: &'a str,
    pub name: &'a str,
    pub version: i32,
}

/// Writes rules one at a time, each distinct string once.
pub struct SnapshotWriter<'a> {
    strings: HashMap<&'a str, u32>,
    table: Vec<u8>,
    rules: Vec<u8>,
    count: u32,
}

impl<'a> Default for SnapshotWriter<'a> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> SnapshotWriter<'a> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// For `rules` rules: their part is allocated once, not grown by doubling (which
    /// held the old and the new buffer at once: 6 MB for 100,000 rules).
    pub fn with_capacity(rules: usize) -> Self {
        Self {
            strings: HashMap::new(),
            table: Vec::new(),
            rules: Vec::with_capacity(rules.saturating_mul(RULE_LEN)),
            count: 0,
        }
    }

    fn string(&mut self, value: &'a str) -> u32 {
        let next = self.strings.len() as u32;
        *self.strings.entry(value).or_insert_with(|| {
            self.table
                .extend_from_slice(&(value.len() as u32).to_le_bytes());
            self.table.extend_from_slice(value.as_bytes());
            next
        })
    }

    pub fn push(&mut self, rule: RuleFields<'a>) {
        let client = self.string(rule.client_id);
        let source = self.string(rule.source);
        let name = self.string(rule.name);
        let severity = severity_code(rule.severity);
        self.rules.extend_from_slice(rule.rule_id.as_bytes());
        self.rules.extend_from_slice(&client.to_le_bytes());
        self.rules.push(severity);
        self.rules.extend_from_slice(&source.to_le_bytes());
        self.rules.extend_from_slice(&name.to_le_bytes());
        self.rules.extend_from_slice(&rule.version.to_le_bytes());
        self.count += 1;
    }

    pub fn finish(self, version: u64, built_at: DateTime<Utc>) -> EncodedSnapshot {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 8 + self.table.len() + self.rules.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&built_at.timestamp_millis().to_le_bytes());
        bytes.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&self.table);
        bytes.extend_from_slice(&self.count.to_le_bytes());
        bytes.extend_from_slice(&self.rules);
        EncodedSnapshot { version, bytes }
    }
}

/// 0–3 for the levels in order, [`ANY_SEVERITY`] for `*`: the stored code, and the
/// match index's slot.
pub fn severity_code(severity: Option<Severity>) -> u8 {
    match severity {
        Some(Severity::Low) => 0,
        Some(Severity::Medium) => 1,
        Some(Severity::High) => 2,
        Some(Severity::Critical) => 3,
        None => ANY_SEVERITY,
    }
}

/// A rule's severity as the rules table stores it: a level, or `None` for `*`.
pub fn parse_severity(value: &str) -> Result<Option<Severity>, InvalidValue> {
    if value == WILDCARD {
        return Ok(None);
    }
    value.parse().map(Some)
}

/// The header and string table of an encoded snapshot, checked; the rules follow.
pub struct DecodedSnapshot<'a> {
    pub version: u64,
    pub built_at: DateTime<Utc>,
    strings: Vec<&'a str>,
    rules: &'a [u8],
    count: u32,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SnapshotFormatError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(SnapshotFormatError::Truncated(self.bytes.len()))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotFormatError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, SnapshotFormatError> {
        self.array().map(u32::from_le_bytes)
    }
}

impl<'a> DecodedSnapshot<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, SnapshotFormatError> {
        let mut reader = Reader { bytes, at: 5 };
        let version = u64::from_le_bytes(reader.array()?);
        let built_at = DateTime::from_timestamp_millis(i64::from_le_bytes(reader.array()?))
            .unwrap_or_default();
        let string_count = reader.u32()?;
        // Never trust a count for an allocation: each string takes at least 4 bytes.
        let mut strings = Vec::with_capacity((string_count as usize).min(bytes.len() / 4));
        for position in 0..string_count {
            let len = reader.u32()? as usize;
            let raw = reader.take(len)?;
            strings.push(
                std::str::from_utf8(raw).map_err(|_| SnapshotFormatError::NotUtf8(position))?,
            );
        }
        let count = reader.u32()?;
        let len = (count as usize)
            .checked_mul(RULE_LEN)
            .ok_or(SnapshotFormatError::Truncated(bytes.len()))?;
        let rules = reader.take(len)?;
        if reader.at != bytes.len() {
            return Err(SnapshotFormatError::TrailingBytes(bytes.len() - reader.at));
        }
        Ok(Self {
            version,
            built_at,
            strings,
            rules,
            count,
        })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every rule in the order written; stops at the first malformed one.
    pub fn rules(&self) -> impl Iterator<Item = Result<RuleFields<'a>, SnapshotFormatError>> + '_ {
        self.rules
            .chunks_exact(RULE_LEN)
            .zip(0u32..)
            .map(|(raw, position)| self.rule(raw, position))
    }

    fn rule(&self, raw: &'a [u8], position: u32) -> Result<RuleFields<'a>, SnapshotFormatError> {
        let field = |at: usize| {
            let mut out = [0; 4];
            out.copy_from_slice(&raw[at..at + 4]);
            out
        };
        let string = |at: usize| {
            let index = u32::from_le_bytes(field(at));
            self.strings
                .get(index as usize)
                .copied()
                .ok_or(SnapshotFormatError::BadString {
                    rule: position,
                    string: index,
                })
        };
        let mut id = [0; 16];
        id.copy_from_slice(&raw[..16]);
        let code = raw[20];
        let severity = match code {
            ANY_SEVERITY => None,
            code => Some(*Severity::ALL.get(code as usize).ok_or(
                SnapshotFormatError::BadSeverity {
                    rule: position,
                    code,
                },
            )?),
        };
        Ok(RuleFields {
            rule_id: Uuid::from_bytes(id),
            client_id: string(16)?,
            severity,
            source: string(21)?,
            name: string(25)?,
            version: i32::from_le_bytes(field(29)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EncodedSnapshot {
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let mut writer = SnapshotWriter::new();
        writer.push(RuleFields {
            rule_id: ids[0],
            client_id: "acme",
            severity: Some(Severity::High),
            source: "payments",
            name: "*",
            version: 3,
        });
        writer.push(RuleFields {
            rule_id: ids[1],
            client_id: "acme",
            severity: None,
            source: "payments",
            name: "déclinée ✓",
            version: 1,
        });
        writer.finish(
            42,
            DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
        )
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let encoded = sample();
        assert_eq!(encoded.version(), 42);
        let again = EncodedSnapshot::from_bytes(encoded.clone().into_bytes()).unwrap();
        assert_eq!(again, encoded);
        let decoded = again.decode().unwrap();
        assert_eq!(decoded.version, 42);
        assert_eq!(decoded.built_at.timestamp_millis(), 1_700_000_000_123);
        let rules: Vec<_> = decoded.rules().collect::<Result<_, _>>().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].severity, Some(Severity::High));
        assert_eq!(
            (rules[0].source, rules[0].name, rules[0].version),
            ("payments", "*", 3)
        );
        assert_eq!(rules[1].severity, None);
        assert_eq!(rules[1].name, "déclinée ✓");
        // Repeated strings are stored once: acme, payments, *, déclinée ✓.
        assert_eq!(decoded.strings.len(), 4);
    }

    #[test]
    fn bytes_that_are_not_a_snapshot_are_refused() {
        assert_eq!(
            EncodedSnapshot::from_bytes(br#"{"version":1,"rules":[]}"#.to_vec()),
            Err(SnapshotFormatError::UnknownFormat)
        );
        assert_eq!(
            EncodedSnapshot::from_bytes(Vec::new()),
            Err(SnapshotFormatError::UnknownFormat)
        );
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let bytes = sample().into_bytes();
        for len in HEADER_LEN..bytes.len() {
            let cut = EncodedSnapshot::from_bytes(bytes[..len].to_vec()).unwrap();
            let outcome = cut
                .decode()
                .and_then(|decoded| decoded.rules().collect::<Result<Vec<_>, _>>().map(drop));
            assert!(outcome.is_err(), "{len} bytes decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let longer = EncodedSnapshot::from_bytes(longer).unwrap();
        assert_eq!(
            longer.decode().err(),
            Some(SnapshotFormatError::TrailingBytes(1))
        );
    }

    #[test]
    fn a_rule_pointing_past_the_strings_or_with_a_bad_severity_is_an_error() {
        let bytes = sample().into_bytes();
        let first_rule = bytes.len() - 2 * RULE_LEN;
        let mut bad_string = bytes.clone();
        bad_string[first_rule + 16..first_rule + 20].copy_from_slice(&99u32.to_le_bytes());
        let bad_string = EncodedSnapshot::from_bytes(bad_string).unwrap();
        let decoded = bad_string.decode().unwrap();
        assert_eq!(
            decoded.rules().next(),
            Some(Err(SnapshotFormatError::BadString {
                rule: 0,
                string: 99
            }))
        );
        let mut bad_severity = bytes;
        bad_severity[first_rule + 20] = 9;
        let bad_severity = EncodedSnapshot::from_bytes(bad_severity).unwrap();
        let decoded = bad_severity.decode().unwrap();
        assert_eq!(
            decoded.rules().next(),
            Some(Err(SnapshotFormatError::BadSeverity { rule: 0, code: 9 }))
        );
    }
}
