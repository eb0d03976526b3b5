//! Building the rule snapshot from SQL: in full (at start and on a timer, healing any
//! drift) or for a few rules (as `rule.changed` events arrive).

use std::collections::BTreeMap;

use alerting_entities::rules;
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::matching::{Snapshot, SnapshotRule};

/// The enabled rules, by id: the state a snapshot is made from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    rules: BTreeMap<Uuid, SnapshotRule>,
}

fn to_snapshot_rule(rule: rules::Model) -> SnapshotRule {
    SnapshotRule {
        rule_id: rule.id,
        client_id: rule.client_id,
        severity: rule.severity,
        source: rule.source,
        name: rule.name,
        version: rule.version,
    }
}

/// Rules read per query while loading, so memory stays flat with 100k rules.
const LOAD_PAGE: u64 = 5_000;

impl RuleSet {
    /// Every enabled rule.
    pub async fn load<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        use sea_orm::QuerySelect;
        let mut rules = BTreeMap::new();
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
                rules.insert(rule.id, to_snapshot_rule(rule));
            }
            if done {
                return Ok(Self { rules });
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
                self.rules.insert(rule.id, to_snapshot_rule(rule));
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

    pub fn snapshot(&self, version: u64) -> Snapshot {
        Snapshot {
            version,
            built_at: Utc::now(),
            rules: self.rules.values().cloned().collect(),
        }
    }
}
