//! What webhook and Slack deliveries share: the resolver that keeps them off private
//! addresses, and what an HTTP answer or a failed request means for another attempt.

use alerting_handlers::{ports::Attempt, safe_targets};

/// Resolves names like the system does, keeping only public addresses: the address
/// checked is the address connected to, so a name that changed to a private address
/// since the endpoint was saved (or that answers differently each time) gets nowhere.
pub(super) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> = all
                .iter()
                .copied()
                .filter(|address| safe_targets::allowed(address.ip()))
                .collect();
            if public.is_empty() {
                let refused = match all.first() {
                    Some(address) => safe_targets::RefusedTarget::Resolves {
                        host,
                        ip: address.ip(),
                        kind: safe_targets::private_kind(address.ip()).unwrap_or("private"),
                    },
                    None => safe_targets::RefusedTarget::Unresolvable {
                        host,
                        reason: "no addresses".to_owned(),
                    },
                };
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a failed request was refused by [`PublicOnly`]: a delivery to a private
/// address, not a network failure worth retrying.
fn refused_by_resolver(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<safe_targets::RefusedTarget>() {
            return Some(refused.to_string());
        }
        source = current.source();
    }
    None
}

/// What an HTTP answer means for delivery.
pub(super) fn classify(response: &reqwest::Response) -> Attempt {
    let status = response.status();
    let code = Some(status.as_u16());
    if status.is_success() {
        Attempt::Delivered { http_status: code }
    } else if status.as_u16() == 429 {
        Attempt::Retryable {
            error: format!("HTTP {status}"),
            http_status: code,
            retry_after: crate::http_client::retry_after(response),
        }
    } else if status.is_server_error() || status.as_u16() == 408 {
        Attempt::Retryable {
            error: format!("HTTP {status}"),
            http_status: code,
            retry_after: None,
        }
    } else if status.is_redirection() {
        Attempt::Permanent {
            error: format!("HTTP {status}: redirects are not followed; update the endpoint's URL"),
            http_status: code,
        }
    } else {
        Attempt::Permanent {
            error: format!("HTTP {status}"),
            http_status: code,
        }
    }
}

/// What went wrong, without the URL (reqwest puts the whole URL, secrets included, in
/// its message) but with each underlying cause, which is where the reason is.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(super) fn transport_error(err: reqwest::Error) -> Attempt {
    if let Some(refused) = refused_by_resolver(&err) {
        return Attempt::Permanent {
            error: refused,
            http_status: None,
        };
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    if err.is_builder() {
        return Attempt::Permanent {
            error: format!("invalid request: {}", describe(err)),
            http_status: None,
        };
    }
    Attempt::Retryable {
        error: format!("{kind}: {}", describe(err)),
        http_status: None,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Attempt {
        let mut response = axum::http::Response::builder().status(status);
        if let Some(seconds) = retry_after {
            response = response.header("retry-after", seconds);
        }
        classify(&reqwest::Response::from(
            response.body(Vec::<u8>::new()).expect("a response"),
        ))
    }

    #[test]
    fn answers_worth_another_try_are_retried_and_the_rest_are_not() {
        assert!(matches!(answer(200, None), Attempt::Delivered { .. }));
        assert!(matches!(answer(204, None), Attempt::Delivered { .. }));
        for status in [408, 500, 502, 503, 504] {
            assert!(
                matches!(
                    answer(status, None),
                    Attempt::Retryable {
                        retry_after: None,
                        ..
                    }
                ),
                "{status}"
            );
        }
        assert!(matches!(
            answer(429, Some("7")),
            Attempt::Retryable { retry_after: Some(wait), http_status: Some(429), .. }
                if wait == std::time::Duration::from_secs(7)
        ));
        for status in [301, 302, 400, 401, 403, 404, 410, 422] {
            assert!(
                matches!(answer(status, None), Attempt::Permanent { http_status: Some(s), .. } if s == status),
                "{status}"
            );
        }
    }
}
