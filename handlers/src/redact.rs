//! Secrets ride in URLs. An ingest key can ride in a request's query ([`request_uri`]).
//! And secrets ride in delivery URLs: a Slack webhook's path is its key
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

/// A request's path and query with the value of a `key` parameter (an ingest key in a
/// URL, for senders that cannot set a header) replaced by `…`: what the request log
/// shows.
pub fn request_uri(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let decoded: String = form_urlencoded::parse(name.as_bytes())
                .map(|(name, _)| name.into_owned())
                .collect();
            if decoded == crate::http::auth::URL_KEY {
                format!("{name}=…")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::{request_uri, url};

    #[test]
    fn a_key_in_a_query_is_not_kept() {
        let uri = |text: &str| text.parse::<axum::http::Uri>().expect("a URI");
        assert_eq!(
            request_uri(&uri("/api/v1/integrations/sns?key=alerting_key_abc&x=1")),
            "/api/v1/integrations/sns?key=…&x=1"
        );
        assert_eq!(
            request_uri(&uri("/s?%6Bey=alerting_key_abc&key&limit=5")),
            "/s?%6Bey=…&key=…&limit=5"
        );
        assert_eq!(
            request_uri(&uri("/api/v1/rules?limit=5")),
            "/api/v1/rules?limit=5"
        );
        assert_eq!(request_uri(&uri("/health")), "/health");
    }

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
