//! Building the rule snapshot from SQL: in full (at start and on a timer, healing any
//! drift) or for a few rules (as `rule.changed` events arrive).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use alerting_entities::rules;
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::{
    domain::Severity,
    snapshot_format::{EncodedSnapshot, RuleFields, SnapshotWriter, parse_severity},
};

/// A rule as the set keeps it: its client, source and name are numbers in the set's
/// table of strings (100,000 rules often have a few thousand distinct ones), so a rule
/// is 20 bytes (three shared `Arc<str>` made it 56, and the set 11 MB at 100,000).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldRule {
    client_id: u32,
    /// `None` is `*`.
    severity: Option<Severity>,
    source: u32,
    name: u32,
    version: i32,
}

/// The enabled rules, by id: the state a snapshot is made from.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: BTreeMap<Uuid, HeldRule>,
    /// Every string a held rule has named, numbered in order of arrival. Strings of
    /// removed rules stay until the next full load replaces the set.
    strings: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, u32>,
}

/// Rules read per query while loading, so memory stays flat with 100k rules.
const LOAD_PAGE: u64 = 5_000;

impl RuleSet {
    /// Every enabled rule.
    pub async fn load<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        use sea_orm::QuerySelect;
        let mut set = Self::default();
        let mut after: Option<Uuid> = None;
        loop {
            let mut query = rules::Entity::find()
                .filter(rules::Column::Enabled.eq(true))
                .order_by_asc(rules::Column::Id)
                .limit(LOAD_PAGE);
            if let Some(after) = after {
                query = query.filter(rules::Column::Id.gt(after));
            }
            let page = query.all(db).await?;
            let done = (page.len() as u64) < LOAD_PAGE;
            after = page.last().map(|rule| rule.id);
            for rule in page {
                set.insert(rule);
            }
            if done {
                return Ok(set);
            }
        }
    }

    /// Brings the named rules up to date with the database: a rule that is gone or
    /// disabled leaves the set. Reading the current row (not trusting the event) makes
    /// replays and out-of-order events harmless.
    pub async fn refresh<C: ConnectionTrait>(&mut self, db: &C, ids: &[Uuid]) -> Result<(), DbErr> {
        if ids.is_empty() {
            return Ok(());
        }
        let current = rules::Entity::find()
            .filter(rules::Column::Id.is_in(ids.iter().copied()))
            .all(db)
            .await?;
        for id in ids {
            self.rules.remove(id);
        }
        for rule in current {
            if rule.enabled {
                self.insert(rule);
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn intern(&mut self, value: String) -> u32 {
        if let Some(number) = self.numbers.get(value.as_str()) {
            return *number;
        }
        let number = self.strings.len() as u32;
        let held: Arc<str> = value.into();
        self.strings.push(held.clone());
        self.numbers.insert(held, number);
        number
    }

    fn string(&self, number: u32) -> &str {
        &self.strings[number as usize]
    }

    fn insert(&mut self, rule: rules::Model) {
        let Ok(severity) = parse_severity(&rule.severity) else {
            // The API validates severities; a row that slipped past it must not crash us.
            tracing::warn!(rule_id = %rule.id, severity = %rule.severity, "rule with an unknown severity left out of the snapshot");
            return;
        };
        let held = HeldRule {
            client_id: self.intern(rule.client_id),
            severity,
            source: self.intern(rule.source),
            name: self.intern(rule.name),
            version: rule.version,
        };
        self.rules.insert(rule.id, held);
    }

    /// The set in the stored form, written straight from the held rules.
    pub fn encode(&self, version: u64) -> EncodedSnapshot {
        let mut writer = SnapshotWriter::with_capacity(self.rules.len());
        for (rule_id, rule) in &self.rules {
            writer.push(RuleFields {
                rule_id: *rule_id,
                client_id: self.string(rule.client_id),
                severity: rule.severity,
                source: self.string(rule.source),
                name: self.string(rule.name),
                version: rule.version,
            });
        }
        writer.finish(version, Utc::now())
    }
}
