//! Lengths of time as people write them in the API: "30m", "2h", "1h30m", "90s", "1d".
//! Silences, maintenance windows and a rule's repeat and auto-resolve intervals all
//! read them here, each with its own bounds.

use chrono::Duration;

use super::InvalidValue;

/// `text` as a length of time within `min..=max`, or `None` (not one, or out of bounds).
pub fn parse_span(text: &str, min: Duration, max: Duration) -> Option<Duration> {
    let mut seconds: i64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        // Any part over the bound in seconds is over it anyway: no overflow.
        let amount: i64 = digits.parse().ok().filter(|n| *n <= max.num_seconds())?;
        digits.clear();
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(amount.checked_mul(unit)?)?;
    }
    let total = Duration::try_seconds(seconds)?;
    (digits.is_empty() && total >= min && total <= max).then_some(total)
}

/// `seconds` the way [`parse_span`] reads it, largest units first: 5400 is "1h30m".
pub fn format_span(seconds: i64) -> String {
    let mut left = seconds.max(0);
    let mut text = String::new();
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if left >= unit {
            text.push_str(&(left / unit).to_string());
            text.push(name);
            left %= unit;
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

/// A rule's `repeat_interval` or `auto_resolve_after`: whole seconds, from one second to
/// thirty days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(i32);

impl Interval {
    pub const MAX: Duration = Duration::days(30);

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        parse_span(text, Duration::seconds(1), Self::MAX)
            .and_then(|span| i32::try_from(span.num_seconds()).ok())
            .map(Self)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "must be a length of time such as \"30s\", \"15m\", \"4h\" or \"1h30m\", from 1s to 30d (got {text:?})"
                ))
            })
    }

    /// A stored value; `None` if it is out of bounds (not written by this platform).
    pub fn from_seconds(seconds: i32) -> Option<Self> {
        (1..=Self::MAX.num_seconds() as i32)
            .contains(&seconds)
            .then_some(Self(seconds))
    }

    pub fn seconds(self) -> i32 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::seconds(i64::from(self.0))
    }

    pub fn text(self) -> String {
        format_span(i64::from(self.0))
    }

    /// A stored value's text, as the API shows it.
    pub fn stored_text(seconds: Option<i32>) -> Option<String> {
        seconds.and_then(Self::from_seconds).map(Self::text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_within_their_bounds() {
        let (min, max) = (Duration::minutes(1), Duration::days(7));
        assert_eq!(parse_span("1h30m", min, max), Some(Duration::minutes(90)));
        assert_eq!(parse_span("30s", min, max), None, "under a minute");
        assert_eq!(parse_span("8d", min, max), None, "over a week");
        assert_eq!(parse_span("99999999999999999999d", min, max), None);
        assert_eq!(
            parse_span("9000000000000000s9000000000000000s", min, max),
            None
        );
        assert_eq!(parse_span("15", min, max), None, "no unit");
        assert_eq!(parse_span("1w", min, max), None, "unknown unit");
    }

    #[test]
    fn intervals_round_trip_through_their_text() {
        for text in ["1s", "90s", "15m", "4h", "1h30m", "1d2h", "30d"] {
            let interval = Interval::parse(text).expect(text);
            assert_eq!(Interval::parse(&interval.text()), Ok(interval), "{text}");
        }
        assert_eq!(
            Interval::parse("90s").map(Interval::text),
            Ok("1m30s".into())
        );
        assert!(Interval::parse("0s").is_err());
        assert!(Interval::parse("31d").is_err());
        assert_eq!(Interval::from_seconds(0), None);
        assert_eq!(Interval::from_seconds(60).map(Interval::seconds), Some(60));
    }
}
