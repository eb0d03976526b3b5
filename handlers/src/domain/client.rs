//! A client (tenant): its id and display name, each checked once where it enters.

use std::fmt;

use super::{InvalidValue, text::check_text};

/// A tenant's id: 1–64 characters of `[A-Za-z0-9._-]`, safe in URLs, logs and keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(InvalidValue(format!(
                "must be 1 to {} characters long (got {})",
                Self::MAX_LEN,
                value.chars().count()
            )));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidValue(format!(
                "may only contain letters, digits, '.', '_' and '-' (found {bad:?})"
            )));
        }
        Ok(Self(value.to_owned()))
    }

    /// A fresh id for a client created without one.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's display name: 1–255 characters of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        check_text(value, 255)?;
        Ok(Self(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_the_documented_alphabet_and_length() {
        assert!(ClientId::parse("acme-corp_1.eu").is_ok());
        assert!(ClientId::parse(&"a".repeat(64)).is_ok());
        assert!(ClientId::parse(&"a".repeat(65)).is_err());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("acme corp").is_err());
        assert!(ClientId::parse("acme/../x").is_err());
        assert!(ClientId::parse("ácme").is_err());
    }

    #[test]
    fn generated_ids_are_valid_ids() {
        let id = ClientId::generate();
        assert_eq!(ClientId::parse(id.as_str()), Ok(id));
    }
}
