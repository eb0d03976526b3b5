//! What a rule matches: severities, and a source or name that is exact or any; and
//! what happened to a rule, as `rule.changed` announces it.

use super::{InvalidValue, text::check_text};

/// The pattern that matches any value of a field.
pub const WILDCARD: &str = "*";

/// An alert's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }
}

/// A rule's severity: one severity or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeverityPattern {
    Any,
    Exactly(Severity),
}

impl SeverityPattern {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value == WILDCARD {
            return Ok(Self::Any);
        }
        value.parse().map(Self::Exactly).map_err(|_| {
            InvalidValue(format!(
                "must be one of LOW, MEDIUM, HIGH, CRITICAL or \"*\" (got {value:?})"
            ))
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => WILDCARD,
            Self::Exactly(severity) => severity.as_str(),
        }
    }
}

/// A rule's source or name: an exact value (1–255 characters) or any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldPattern {
    Any,
    Exactly(String),
}

impl FieldPattern {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value == WILDCARD {
            return Ok(Self::Any);
        }
        check_text(value, Self::MAX_CHARS)?;
        Ok(Self::Exactly(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Any => WILDCARD,
            Self::Exactly(value) => value,
        }
    }
}

/// What happened to a rule, as announced on `rule.changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Created,
    Updated,
    Enabled,
    Disabled,
    Deleted,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
            Self::Deleted => "DELETED",
        }
    }

    /// The action a write amounts to: a change of what the rule matches is an update;
    /// a change of `enabled` alone is an enable or a disable.
    pub fn of_write(matching_changed: bool, was_enabled: bool, is_enabled: bool) -> Self {
        match (matching_changed, was_enabled, is_enabled) {
            (false, false, true) => Self::Enabled,
            (false, true, false) => Self::Disabled,
            _ => Self::Updated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_patterns_accept_any_case_and_the_wildcard() {
        assert_eq!(
            SeverityPattern::parse("high"),
            Ok(SeverityPattern::Exactly(Severity::High))
        );
        assert_eq!(
            SeverityPattern::parse("CrItIcAl").map(|p| p.as_str()),
            Ok("CRITICAL")
        );
        assert_eq!(SeverityPattern::parse("*"), Ok(SeverityPattern::Any));
        assert!(SeverityPattern::parse("SEVERE").is_err());
        assert!(SeverityPattern::parse("").is_err());
        assert!(SeverityPattern::parse("**").is_err());
    }

    #[test]
    fn field_patterns_are_exact_text_or_the_wildcard() {
        assert_eq!(FieldPattern::parse("*"), Ok(FieldPattern::Any));
        assert_eq!(
            FieldPattern::parse("payments").map(|p| p.as_str().to_owned()),
            Ok("payments".to_owned())
        );
        assert!(FieldPattern::parse(&"x".repeat(256)).is_err());
        assert!(FieldPattern::parse("").is_err());
    }

    #[test]
    fn a_write_names_its_action() {
        assert_eq!(
            RuleAction::of_write(false, false, true),
            RuleAction::Enabled
        );
        assert_eq!(
            RuleAction::of_write(false, true, false),
            RuleAction::Disabled
        );
        assert_eq!(RuleAction::of_write(true, true, false), RuleAction::Updated);
        assert_eq!(RuleAction::of_write(false, true, true), RuleAction::Updated);
    }
}
