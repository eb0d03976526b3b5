//! The rules' repeat and auto-resolve intervals, as the aggregator stamps them on the
//! notifications it makes and the senders' timer applies them: read from the database at
//! most once a second, only the enabled rules that set one (most set none: nothing to
//! hold).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alerting_entities::rules;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::Interval;

/// How old the intervals an aggregator applies may be.
pub const REFRESH: Duration = Duration::from_secs(1);

/// One rule's intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    pub repeat: Option<Interval>,
    pub auto_resolve: Option<Interval>,
}

impl Timing {
    /// A stored rule's.
    pub fn of(rule: &rules::Model) -> Self {
        Self {
            repeat: rule
                .repeat_interval_seconds
                .and_then(Interval::from_seconds),
            auto_resolve: rule
                .auto_resolve_after_seconds
                .and_then(Interval::from_seconds),
        }
    }
}

/// The intervals of the rules that set any, by rule.
#[derive(Debug, Default)]
pub struct Timings {
    by_rule: HashMap<Uuid, Timing>,
}

impl Timings {
    pub fn new(by_rule: HashMap<Uuid, Timing>) -> Self {
        Self { by_rule }
    }

    /// The shortest `auto_resolve_after` of any rule: nothing quiet for less can be due.
    pub fn shortest_auto_resolve(&self) -> Option<Interval> {
        self.by_rule.values().filter_map(|t| t.auto_resolve).min()
    }

    /// A notification's, from the rules it matched: the shortest of each (the most
    /// eager rule wins, as the most urgent page would).
    pub fn of(&self, rule_ids: &[Uuid]) -> Timing {
        if self.by_rule.is_empty() {
            return Timing::default();
        }
        let timings: Vec<&Timing> = rule_ids
            .iter()
            .filter_map(|id| self.by_rule.get(id))
            .collect();
        Timing {
            repeat: timings.iter().filter_map(|t| t.repeat).min(),
            auto_resolve: timings.iter().filter_map(|t| t.auto_resolve).min(),
        }
    }
}

/// The intervals read last, and when.
#[derive(Default)]
pub struct RuleTimings {
    last: Mutex<Option<(Instant, Arc<Timings>)>>,
}

impl RuleTimings {
    /// The enabled rules' intervals, read again when older than [`REFRESH`].
    pub async fn current<C: ConnectionTrait>(&self, db: &C) -> Result<Arc<Timings>, DbErr> {
        if let Some((read_at, current)) = &*self.last.lock().unwrap_or_else(|e| e.into_inner())
            && read_at.elapsed() < REFRESH
        {
            return Ok(current.clone());
        }
        let rows = rules::Entity::find()
            .filter(rules::Column::Enabled.eq(true))
            .filter(
                Condition::any()
                    .add(rules::Column::RepeatIntervalSeconds.is_not_null())
                    .add(rules::Column::AutoResolveAfterSeconds.is_not_null()),
            )
            .all(db)
            .await?;
        let by_rule = rows.iter().map(|row| (row.id, Timing::of(row))).collect();
        let current = Arc::new(Timings { by_rule });
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), current.clone()));
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_takes_the_shortest_interval_of_its_rules() {
        let interval = |text| Interval::parse(text).ok();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let timings = Timings::new(HashMap::from([
            (
                a,
                Timing {
                    repeat: interval("4h"),
                    auto_resolve: None,
                },
            ),
            (
                b,
                Timing {
                    repeat: interval("30m"),
                    auto_resolve: interval("1h"),
                },
            ),
        ]));
        assert_eq!(
            timings.of(&[a, b, c]),
            Timing {
                repeat: interval("30m"),
                auto_resolve: interval("1h")
            }
        );
        assert_eq!(timings.of(&[a]).auto_resolve, None);
        assert_eq!(timings.of(&[c]), Timing::default());
    }
}
