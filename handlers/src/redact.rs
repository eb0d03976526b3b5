//! Secrets ride in delivery URLs: a Slack webhook's path is its key
//! (`hooks.slack.com/services/T…/B…/<key>`) and many receivers take `?token=…`. A
//! target URL that reaches a log line or an error message goes through [`url`], which
//! keeps only where the delivery goes.

/// `scheme://host[:port]/`, with `/…` standing for whatever path, query or fragment
/// there was; credentials before the host are dropped too.
pub fn url(value: &str) -> String {
    let Ok(parsed) = url::Url::parse(value) else {
        return "<not a URL>".to_owned();
    };
    let Some(host) = parsed.host_str() else {
        return format!("{}:…", parsed.scheme());
    };
    let port = parsed
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let more = parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some();
    let rest = if more { "/…" } else { "/" };
    format!("{}://{host}{port}{rest}", parsed.scheme())
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn only_scheme_host_and_port_are_kept() {
        assert_eq!(
            url("https://hooks.slack.com/services/T000/B000/XXXXsecret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            url("http://127.0.0.1:9000/hook?token=s3cret#x"),
            "http://127.0.0.1:9000/…"
        );
        assert_eq!(
            url("https://user:pw@[::1]:8443/?a=1"),
            "https://[::1]:8443/…"
        );
        assert_eq!(url("https://example.com"), "https://example.com/");
        assert_eq!(url("mailto:token@example.com"), "mailto:…");
        assert_eq!(url("not a url s3cret"), "<not a URL>");
    }
}
