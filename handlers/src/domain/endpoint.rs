//! Endpoints: where a notification goes (a webhook or Slack URL, an email address)
//! and the secret a webhook's deliveries are signed with, each checked before it is
//! stored.

use url::Url;

use super::{InvalidValue, text::check_text};

/// Where a notification can be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    Webhook,
    Slack,
    Email,
}

impl EndpointKind {
    pub const ALL: [Self; 3] = [Self::Webhook, Self::Slack, Self::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Email => "email",
        }
    }
}

/// An endpoint's address, checked against its kind: an http(s) URL for webhook and
/// Slack, an email address for email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointTarget {
    kind: EndpointKind,
    value: String,
}

impl EndpointTarget {
    pub const MAX_URL_LEN: usize = 2048;
    pub const MAX_EMAIL_LEN: usize = 254;

    pub fn parse(kind: EndpointKind, value: &str) -> Result<Self, InvalidValue> {
        let value = match kind {
            EndpointKind::Webhook | EndpointKind::Slack => parse_http_url(value)?,
            EndpointKind::Email => parse_email(value)?,
        };
        Ok(Self { kind, value })
    }

    pub fn kind(&self) -> EndpointKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

fn parse_http_url(value: &str) -> Result<String, InvalidValue> {
    let url =
        Url::parse(value).map_err(|err| InvalidValue(format!("must be an http(s) URL ({err})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidValue(format!(
            "must be an http(s) URL (got scheme {:?})",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InvalidValue::new("must be an http(s) URL with a host"));
    }
    // Stored normalised, so that the same URL written two ways is one endpoint. The
    // limit applies to that stored form: percent-encoding can triple a URL's length,
    // and what is stored must fit the unique index on (rule, kind, value).
    let normalised: String = url.into();
    if normalised.len() > EndpointTarget::MAX_URL_LEN {
        return Err(InvalidValue(format!(
            "must be a URL of at most {} bytes once normalised, percent-encoding included (it is {})",
            EndpointTarget::MAX_URL_LEN,
            normalised.len()
        )));
    }
    Ok(normalised)
}

/// A pragmatic check of an address (`local@domain`), strict enough to catch typos and
/// header injection, loose enough for every address a mail server would take.
fn parse_email(value: &str) -> Result<String, InvalidValue> {
    let invalid = |why: &str| InvalidValue(format!("must be an email address ({why})"));
    if value.len() > EndpointTarget::MAX_EMAIL_LEN {
        return Err(invalid("at most 254 bytes"));
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(invalid("missing '@'"));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok {
        return Err(invalid("invalid part before '@'"));
    }
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Err(invalid("invalid domain"));
    }
    Ok(value.to_owned())
}

/// The key a webhook's signature is made with. Write-only: the API never returns it.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(String);

impl EndpointSecret {
    /// Shorter keys could be guessed from a signature and its body, offline.
    pub const MIN_CHARS: usize = 16;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        check_text(value, Self::MAX_CHARS)?;
        let chars = value.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(InvalidValue(format!(
                "must be at least {} characters (got {chars}); e.g. `openssl rand -hex 32`",
                Self::MIN_CHARS
            )));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_in_any_case() {
        assert_eq!("Webhook".parse(), Ok(EndpointKind::Webhook));
        assert_eq!("SLACK".parse(), Ok(EndpointKind::Slack));
        assert!("sms".parse::<EndpointKind>().is_err());
    }

    #[test]
    fn webhook_and_slack_need_http_urls_with_a_host() {
        for kind in [EndpointKind::Webhook, EndpointKind::Slack] {
            assert_eq!(
                EndpointTarget::parse(kind, "https://hooks.example.com/x?y=1")
                    .map(|t| t.value().to_owned()),
                Ok("https://hooks.example.com/x?y=1".to_owned())
            );
            assert!(EndpointTarget::parse(kind, "http://127.0.0.1:9000").is_ok());
            assert!(EndpointTarget::parse(kind, "ftp://example.com").is_err());
            assert!(EndpointTarget::parse(kind, "example.com/hook").is_err());
            assert!(EndpointTarget::parse(kind, "ops@example.com").is_err());
            assert!(EndpointTarget::parse(kind, "javascript:alert(1)").is_err());
        }
    }

    #[test]
    fn urls_are_stored_normalised() {
        let target = EndpointTarget::parse(EndpointKind::Webhook, "HTTPS://Example.COM");
        assert_eq!(
            target.map(|t| t.value().to_owned()),
            Ok("https://example.com/".to_owned())
        );
    }

    #[test]
    fn the_url_limit_applies_to_the_stored_form() {
        let host = "https://example.com/";
        let fits = format!(
            "{host}{}",
            "a".repeat(EndpointTarget::MAX_URL_LEN - host.len())
        );
        assert_eq!(
            EndpointTarget::parse(EndpointKind::Webhook, &fits).map(|t| t.value().len()),
            Ok(EndpointTarget::MAX_URL_LEN)
        );
        // 720 bytes as written, 2,120 once each `é` is `%C3%A9`.
        let grows = format!("{host}{}", "é".repeat(350));
        let refused = EndpointTarget::parse(EndpointKind::Webhook, &grows);
        assert!(
            matches!(&refused, Err(InvalidValue(message)) if message.contains("2120")),
            "{refused:?}"
        );
    }

    #[test]
    fn email_addresses_are_checked() {
        let email = |v: &str| EndpointTarget::parse(EndpointKind::Email, v);
        assert!(email("ops@example.com").is_ok());
        assert!(email("first.last+alerts@sub.example.co.uk").is_ok());
        assert!(email("ops").is_err());
        assert!(email("@example.com").is_err());
        assert!(email("ops@").is_err());
        assert!(email("ops@exa mple.com").is_err());
        assert!(email("ops@example.com\r\nBcc: x@y.z").is_err());
        assert!(email("a..b@example.com").is_err());
        assert!(email("https://example.com").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = EndpointSecret::parse("hunter2-hunter2-hunter2").map(|s| format!("{s:?}"));
        assert_eq!(secret, Ok("EndpointSecret(***)".to_owned()));
    }

    #[test]
    fn secrets_have_at_least_16_characters() {
        assert!(EndpointSecret::parse(&"é".repeat(16)).is_ok());
        let short = EndpointSecret::parse(&"k".repeat(15));
        assert!(
            matches!(&short, Err(InvalidValue(message)) if message.contains("at least 16")),
            "{short:?}"
        );
    }
}
