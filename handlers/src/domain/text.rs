//! The one check every stored free-text field goes through.

use super::InvalidValue;

/// Checks free text that is stored and later matched or displayed: not empty, at most
/// `max_chars` characters, no control characters (Postgres refuses NUL in text, and
/// the rest only ever hides mistakes), no surrounding whitespace (" payments" would
/// silently never match "payments").
pub(crate) fn check_text(value: &str, max_chars: usize) -> Result<(), InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue::new("must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(InvalidValue(format!(
            "must be at most {max_chars} characters (got {chars})"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidValue::new("must not contain control characters"));
    }
    if value.trim() != value {
        return Err(InvalidValue::new("must not start or end with whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unicode_up_to_the_limit_in_characters() {
        assert!(check_text(&"é".repeat(255), 255).is_ok());
        assert!(check_text(&"é".repeat(256), 255).is_err());
    }

    #[test]
    fn refuses_empty_control_and_padded_text() {
        assert!(check_text("", 10).is_err());
        assert!(check_text("a\0b", 10).is_err());
        assert!(check_text("a\nb", 10).is_err());
        assert!(check_text(" a", 10).is_err());
        assert!(check_text("a ", 10).is_err());
        assert!(check_text("a b", 10).is_ok());
    }
}
