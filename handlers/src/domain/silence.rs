//! Silences and maintenance windows, parsed once where they enter: what alerts a
//! silence matches (the rules' grammar on severity, source and name, and equality on
//! context fields), when it applies (from `starts_at` until `ends_at`), and for a
//! maintenance window, the weekly times within that period (days, a local start time,
//! a duration and an IANA time zone).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Alert, FieldPattern, InvalidValue, SeverityPattern};

/// What alerts a silence matches: every one of its fields must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matchers {
    pub severity: SeverityPattern,
    pub source: FieldPattern,
    pub name: FieldPattern,
    /// Top-level context fields the alert must have, with exactly these values.
    pub context: BTreeMap<String, String>,
}

/// The most context fields a silence may require.
pub const MAX_CONTEXT_MATCHERS: usize = 16;

impl Matchers {
    /// The first field of `alert` that this does not match, if any ("severity",
    /// "source", "name" or "context.<key>").
    pub fn mismatch(&self, alert: &Alert) -> Option<String> {
        if let SeverityPattern::Exactly(severity) = self.severity
            && severity != alert.severity
        {
            return Some("severity".to_owned());
        }
        for (field, pattern, value) in [
            ("source", &self.source, &alert.source),
            ("name", &self.name, &alert.name),
        ] {
            if let FieldPattern::Exactly(wanted) = pattern
                && wanted != value
            {
                return Some(field.to_owned());
            }
        }
        self.context
            .iter()
            .find(|(key, value)| alert.context.get(*key) != Some(*value))
            .map(|(key, _)| format!("context.{key}"))
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        self.mismatch(alert).is_none()
    }
}

/// A maintenance window: every week, on `days`, from `start` (local time in
/// `time_zone`) for `duration`. The duration is real time: across a daylight-saving
/// change a window ends an hour earlier or later by the clock. A start time a spring
/// change skips starts when the clock reaches it (03:00 for 02:30); one an autumn
/// change repeats starts the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub days: BTreeSet<u8>,
    pub start: NaiveTime,
    pub duration: Duration,
    pub time_zone: Tz,
}

/// The longest a window may last: a week (longer, it never ends).
pub const MAX_WINDOW: Duration = Duration::days(7);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Recurrence {
    /// Parses the API's fields; each error names its field.
    pub fn parse(
        days: &[String],
        start: &str,
        duration: &str,
        time_zone: &str,
    ) -> Result<Self, (&'static str, InvalidValue)> {
        if days.is_empty() {
            return Err((
                "recurrence.days",
                InvalidValue::new("name at least one day: mon … sun"),
            ));
        }
        let mut parsed = BTreeSet::new();
        for day in days {
            let number = DAY_NAMES
                .iter()
                .position(|name| day.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    (
                        "recurrence.days",
                        InvalidValue(format!(
                            "{day:?} is not a day: use mon, tue, wed, thu, fri, sat or sun"
                        )),
                    )
                })?;
            parsed.insert(number as u8);
        }
        let start = NaiveTime::parse_from_str(start, "%H:%M").map_err(|_| {
            (
                "recurrence.start",
                InvalidValue(format!("must be a local time as HH:MM (got {start:?})")),
            )
        })?;
        let duration = parse_duration(duration).ok_or_else(|| {
            (
                "recurrence.duration",
                InvalidValue(format!(
                    "must be a duration such as 30m, 2h or 1h30m, up to 7 days (got {duration:?})"
                )),
            )
        })?;
        let time_zone: Tz = time_zone.parse().map_err(|_| {
            (
                "recurrence.time_zone",
                InvalidValue(format!(
                    "must be an IANA time zone such as Europe/Berlin (got {time_zone:?})"
                )),
            )
        })?;
        Ok(Self {
            days: parsed,
            start,
            duration,
            time_zone,
        })
    }

    /// The day names, as the API shows them.
    pub fn day_names(&self) -> Vec<String> {
        self.days
            .iter()
            .map(|day| DAY_NAMES[usize::from(*day)].to_owned())
            .collect()
    }

    /// When the window that starts on local date `date` starts, in UTC.
    fn start_on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let local = date.and_time(self.start);
        match self.time_zone.from_local_datetime(&local) {
            LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            // Skipped by a spring change: the first minute that exists after it.
            LocalResult::None => (1..=180).find_map(|minutes| {
                self.time_zone
                    .from_local_datetime(&(local + Duration::minutes(minutes)))
                    .earliest()
                    .map(|at| at.with_timezone(&Utc))
            }),
        }
    }

    /// Whether a window is open at `at`.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        let today = at.with_timezone(&self.time_zone).date_naive();
        // A window open now started today or up to a week before.
        (0..=7).any(|back| {
            let date = today - Duration::days(back);
            let weekday = date.weekday().num_days_from_monday() as u8;
            self.days.contains(&weekday)
                && self
                    .start_on(date)
                    .is_some_and(|start| start <= at && at < start + self.duration)
        })
    }
}

/// "30m", "2h", "1h30m", "90s", "1d": at least a minute, at most [`MAX_WINDOW`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    super::span::parse_span(text, Duration::minutes(1), MAX_WINDOW)
}

/// A silence as the matching needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: uuid::Uuid,
    pub client_id: String,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    /// None: until expired (a maintenance window may have no end).
    pub ends_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Recurrence>,
}

/// Where a silence is in its life, as lists filter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    /// Not started yet.
    Pending,
    /// Between its start and its end (a maintenance window: silencing only while one
    /// of its windows is open).
    Active,
    /// Ended, or expired early.
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if self.ends_at.is_some_and(|end| end <= now) {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    /// Whether it silences at `at`: active, and for a maintenance window, in a window.
    pub fn silences_at(&self, at: DateTime<Utc>) -> bool {
        self.state(at) == SilenceState::Active
            && self.recurrence.as_ref().is_none_or(|r| r.is_open_at(at))
    }

    /// Whether it silences `alert` of its client at `at`.
    pub fn silences(&self, client_id: &str, alert: &Alert, at: DateTime<Utc>) -> bool {
        self.client_id == client_id && self.silences_at(at) && self.matchers.matches(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn window(days: &[&str], start: &str, duration: &str, zone: &str) -> Recurrence {
        let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
        Recurrence::parse(&days, start, duration, zone).expect("valid")
    }

    #[test]
    fn a_berlin_window_across_the_spring_change_lasts_its_real_duration() {
        // 2026-03-29, Sunday: at 02:00 CET the clocks go to 03:00 CEST.
        let w = window(&["sun"], "01:30", "2h", "Europe/Berlin");
        assert!(!w.is_open_at(utc("2026-03-29T00:29:00Z")), "01:29 CET");
        assert!(w.is_open_at(utc("2026-03-29T00:30:00Z")), "01:30 CET");
        assert!(w.is_open_at(utc("2026-03-29T02:29:00Z")), "04:29 CEST");
        assert!(
            !w.is_open_at(utc("2026-03-29T02:30:00Z")),
            "04:30 CEST: 2h on"
        );
        // A start the change skips starts when the clock reaches it.
        let skipped = window(&["sun"], "02:30", "1h", "Europe/Berlin");
        assert!(!skipped.is_open_at(utc("2026-03-29T00:59:00Z")));
        assert!(
            skipped.is_open_at(utc("2026-03-29T01:00:00Z")),
            "03:00 CEST"
        );
        assert!(!skipped.is_open_at(utc("2026-03-29T02:00:00Z")));
        // A week before and after, the same local times in winter and in summer.
        assert!(w.is_open_at(utc("2026-03-22T00:30:00Z")), "01:30 CET");
        assert!(w.is_open_at(utc("2026-04-04T23:30:00Z")), "01:30 CEST");
        assert!(!w.is_open_at(utc("2026-04-04T23:29:00Z")));
    }

    #[test]
    fn a_new_york_window_across_the_autumn_change_starts_the_first_time() {
        // 2026-11-01, Sunday: at 02:00 EDT the clocks go back to 01:00 EST; 01:30
        // happens twice (05:30 and 06:30 UTC).
        let w = window(&["sun"], "01:30", "1h", "America/New_York");
        assert!(!w.is_open_at(utc("2026-11-01T05:29:00Z")));
        assert!(w.is_open_at(utc("2026-11-01T05:30:00Z")), "the first 01:30");
        assert!(w.is_open_at(utc("2026-11-01T06:29:00Z")));
        assert!(!w.is_open_at(utc("2026-11-01T06:30:00Z")), "one real hour");
        // An overnight window on the change keeps its real length too.
        let night = window(&["sat"], "22:00", "8h", "America/New_York");
        assert!(
            night.is_open_at(utc("2026-11-01T02:00:00Z")),
            "Sat 22:00 EDT"
        );
        assert!(
            night.is_open_at(utc("2026-11-01T09:59:00Z")),
            "Sun 04:59 EST"
        );
        assert!(
            !night.is_open_at(utc("2026-11-01T10:00:00Z")),
            "Sun 05:00 EST"
        );
        assert!(
            !night.is_open_at(utc("2026-11-02T02:00:00Z")),
            "not on Sunday"
        );
    }

    #[test]
    fn windows_refuse_what_they_cannot_mean() {
        let cases: [(&[&str], &str, &str, &str, &str); 5] = [
            (&[], "22:00", "1h", "UTC", "recurrence.days"),
            (&["someday"], "22:00", "1h", "UTC", "recurrence.days"),
            (&["mon"], "25:00", "1h", "UTC", "recurrence.start"),
            (&["mon"], "22:00", "8d", "UTC", "recurrence.duration"),
            (
                &["mon"],
                "22:00",
                "1h",
                "Mars/Olympus",
                "recurrence.time_zone",
            ),
        ];
        for (days, start, duration, zone, field) in cases {
            let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
            let err = Recurrence::parse(&days, start, duration, zone).expect_err("refused");
            assert_eq!(err.0, field);
        }
        assert_eq!(parse_duration("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("30s"), None, "under a minute");
        assert_eq!(parse_duration("99999999999999999999d"), None);
        assert_eq!(parse_duration("9000000000000000s9000000000000000s"), None);
    }

    #[test]
    fn matchers_name_the_first_field_that_differs() {
        let alert = Alert::parse(
            super::super::AlertParts {
                severity: "HIGH",
                source: "db",
                name: "disk full",
                context: Some(&[("region".to_owned(), "eu".to_owned())].into()),
                ..Default::default()
            },
            Utc::now(),
        )
        .expect("valid");
        let matchers = |severity: &str, source: &str, context: &[(&str, &str)]| Matchers {
            severity: SeverityPattern::parse(severity).expect("severity"),
            source: FieldPattern::parse(source).expect("source"),
            name: FieldPattern::Any,
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        assert_eq!(
            matchers("*", "db", &[("region", "eu")]).mismatch(&alert),
            None
        );
        assert_eq!(
            matchers("LOW", "web", &[]).mismatch(&alert).as_deref(),
            Some("severity")
        );
        assert_eq!(
            matchers("*", "web", &[]).mismatch(&alert).as_deref(),
            Some("source")
        );
        assert_eq!(
            matchers("*", "*", &[("region", "us")])
                .mismatch(&alert)
                .as_deref(),
            Some("context.region")
        );
    }
}
