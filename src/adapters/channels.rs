//! The delivery channels: webhook and Slack over HTTP, email over SMTP. One call is one
//! attempt; the answer says whether another attempt could help.

use alerting_handlers::{
    domain::EndpointKind,
    ports::{Attempt, Channel, NotificationPayload, Target},
    safe_targets,
    signature::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign},
};
use async_trait::async_trait;
use chrono::Utc;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, header::HeaderName},
};
use serde::Serialize;

use crate::config::DeliveryConfig;

#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("SMTP_URL is not usable: {0}")]
    Smtp(String),
    #[error("EMAIL_FROM is not an address: {0}")]
    From(String),
}

pub struct Channels {
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// ALLOW_PRIVATE_ENDPOINTS: webhooks and Slack may reach non-public addresses.
    allow_private: bool,
}

/// Resolves names like the system does, keeping only public addresses: the address
/// checked is the address connected to, so a name that changed to a private address
/// since the endpoint was saved (or that answers differently each time) gets nowhere.
struct PublicOnly;

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

impl Channels {
    pub fn new(config: &DeliveryConfig, allow_private: bool) -> Result<Self, ChannelSetupError> {
        let mut http = crate::http_client::builder();
        if !allow_private {
            // Through a proxy (HTTPS_PROXY…) only the proxy's name would be resolved here.
            http = http.dns_resolver(PublicOnly).no_proxy();
        }
        let http = http
            .timeout(config.delivery_timeout())
            .connect_timeout(config.delivery_timeout())
            // A redirect is the receiver's mistake to fix, not a place to follow blindly.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("alerting/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ChannelSetupError::Http(err.to_string()))?;
        let smtp = config
            .smtp_url
            .as_deref()
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map(|builder| builder.timeout(Some(config.delivery_timeout())).build())
                    .map_err(|err| ChannelSetupError::Smtp(err.to_string()))
            })
            .transpose()?;
        let from = config
            .email_from
            .parse()
            .map_err(|err: lettre::address::AddressError| {
                ChannelSetupError::From(err.to_string())
            })?;
        Ok(Self {
            http,
            smtp,
            from,
            allow_private,
        })
    }

    /// Refuses a URL that names a non-public address outright (an address in the URL
    /// is never resolved, so the resolver cannot catch it). For good: retrying would
    /// not change the address.
    fn refused(&self, target: &Target) -> Option<Attempt> {
        if self.allow_private {
            return None;
        }
        let url = reqwest::Url::parse(&target.value).ok()?;
        let ip = match url.host()? {
            url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
            url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
            url::Host::Domain(_) => return None,
        };
        let kind = safe_targets::private_kind(ip)?;
        Some(Attempt::Permanent {
            error: safe_targets::RefusedTarget::Address {
                host: ip.to_string(),
                kind,
            }
            .to_string(),
            http_status: None,
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

/// The JSON body a webhook receives.
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    notification_id: uuid::Uuid,
    client_id: &'a str,
    /// true: the alert came from the shared feed; false: the client posted it itself
    /// (and then `alert.owner` is the client).
    shared: bool,
    alert: &'a alerting_handlers::events::AlertBody,
    rule_ids: &'a [uuid::Uuid],
    created_at: chrono::DateTime<Utc>,
    sent_at: chrono::DateTime<Utc>,
}

/// What an HTTP answer means for delivery.
fn classify(response: &reqwest::Response) -> Attempt {
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

fn transport_error(err: reqwest::Error) -> Attempt {
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

/// Slack's mrkdwn treats these three specially.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_escape(text: &str) -> String {
    slack_escape(text)
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn headline(payload: &NotificationPayload) -> String {
    format!(
        "[{}] {}: {}",
        payload.alert.severity, payload.alert.source, payload.alert.name
    )
}

impl Channels {
    async fn webhook(&self, payload: &NotificationPayload, target: &Target, key: &str) -> Attempt {
        let now = Utc::now();
        let body = WebhookBody {
            notification_id: payload.notification_id,
            client_id: &payload.client_id,
            shared: payload.shared,
            alert: &payload.alert,
            rule_ids: &payload.rule_ids,
            created_at: payload.created_at,
            sent_at: now,
        };
        let body = match serde_json::to_vec(&body) {
            Ok(body) => body,
            Err(err) => {
                return Attempt::Permanent {
                    error: err.to_string(),
                    http_status: None,
                };
            }
        };
        let timestamp = now.timestamp();
        let mut request = self
            .http
            .post(&target.value)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, key)
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = &target.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret, timestamp, &body));
        }
        match request.body(body).send().await {
            Ok(response) => classify(&response),
            Err(err) => transport_error(err),
        }
    }

    async fn slack(&self, payload: &NotificationPayload, target: &Target) -> Attempt {
        let alert = &payload.alert;
        let mut fields = vec![
            serde_json::json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", slack_escape(&alert.severity))}),
            serde_json::json!({"type": "mrkdwn", "text": format!("*Source*\n{}", slack_escape(&alert.source))}),
            serde_json::json!({"type": "mrkdwn", "text": format!("*Name*\n{}", slack_escape(&alert.name))}),
            serde_json::json!({"type": "mrkdwn", "text": format!("*At*\n{}", alert.event_ts.to_rfc3339())}),
        ];
        // Slack allows ten fields per section.
        for (key, value) in alert.context.iter().take(6) {
            fields.push(serde_json::json!({"type": "mrkdwn", "text": format!("*{}*\n{}", slack_escape(key), slack_escape(value))}));
        }
        let message = serde_json::json!({
            "text": slack_escape(&headline(payload)),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": headline(payload).chars().take(150).collect::<String>()}},
                {"type": "section", "fields": fields},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("alert `{}` · notification `{}`", slack_escape(&alert.alert_id), payload.notification_id)}]}
            ]
        });
        match self.http.post(&target.value).json(&message).send().await {
            Ok(response) => classify(&response),
            Err(err) => transport_error(err),
        }
    }

    async fn email(&self, payload: &NotificationPayload, target: &Target, key: &str) -> Attempt {
        let Some(smtp) = &self.smtp else {
            return Attempt::Permanent {
                error: "email is not configured: set SMTP_URL".to_owned(),
                http_status: None,
            };
        };
        let to: Mailbox = match target.value.parse() {
            Ok(to) => to,
            Err(err) => {
                return Attempt::Permanent {
                    error: format!("bad address: {err}"),
                    http_status: None,
                };
            }
        };
        let alert = &payload.alert;
        let context_text: String = alert
            .context
            .iter()
            .map(|(k, v)| format!("  {k}: {v}\n"))
            .collect();
        let text = format!(
            "{}\n\nSeverity: {}\nSource: {}\nName: {}\nAt: {}\nAlert: {}\nNotification: {}\n{}",
            headline(payload),
            alert.severity,
            alert.source,
            alert.name,
            alert.event_ts.to_rfc3339(),
            alert.alert_id,
            payload.notification_id,
            if context_text.is_empty() {
                String::new()
            } else {
                format!("Context:\n{context_text}")
            }
        );
        let context_html: String = alert
            .context
            .iter()
            .map(|(k, v)| {
                format!(
                    "<tr><th>{}</th><td>{}</td></tr>",
                    html_escape(k),
                    html_escape(v)
                )
            })
            .collect();
        let html = format!(
            "<h2>{}</h2><table><tr><th>Severity</th><td>{}</td></tr><tr><th>Source</th><td>{}</td></tr><tr><th>Name</th><td>{}</td></tr><tr><th>At</th><td>{}</td></tr>{}</table><p>alert {} · notification {}</p>",
            html_escape(&headline(payload)),
            html_escape(&alert.severity),
            html_escape(&alert.source),
            html_escape(&alert.name),
            alert.event_ts.to_rfc3339(),
            context_html,
            html_escape(&alert.alert_id),
            payload.notification_id,
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(headline(payload))
            .raw_header(lettre::message::header::HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Alerting-Idempotency-Key"),
                key.to_owned(),
            ))
            .multipart(MultiPart::alternative_plain_html(text, html));
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                return Attempt::Permanent {
                    error: format!("cannot build the email: {err}"),
                    http_status: None,
                };
            }
        };
        match smtp.send(message).await {
            Ok(_) => Attempt::Delivered { http_status: None },
            Err(err) if err.is_permanent() => Attempt::Permanent {
                error: format!("SMTP: {err}"),
                http_status: None,
            },
            Err(err) => Attempt::Retryable {
                error: format!("SMTP: {err}"),
                http_status: None,
                retry_after: None,
            },
        }
    }
}

#[async_trait]
impl Channel for Channels {
    async fn deliver(&self, payload: &NotificationPayload, target: &Target, key: &str) -> Attempt {
        if target.kind != EndpointKind::Email
            && let Some(refused) = self.refused(target)
        {
            return refused;
        }
        match target.kind {
            EndpointKind::Webhook => self.webhook(payload, target, key).await,
            EndpointKind::Slack => self.slack(payload, target).await,
            EndpointKind::Email => self.email(payload, target, key).await,
        }
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

    /// The defaults, as a service reads them with nothing set.
    fn defaults() -> DeliveryConfig {
        #[derive(clap::Parser)]
        struct Settings {
            #[command(flatten)]
            delivery: DeliveryConfig,
        }
        <Settings as clap::Parser>::try_parse_from(["test"])
            .expect("defaults")
            .delivery
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried() {
        // A port nobody listens on: bound, then let go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let channels = Channels::new(&defaults(), true).expect("channels");
        let payload = NotificationPayload {
            notification_id: uuid::Uuid::now_v7(),
            client_id: "acme".to_owned(),
            shared: true,
            alert: alerting_handlers::events::AlertBody {
                owner: None,
                alert_id: "a-1".to_owned(),
                event_ts: Utc::now(),
                severity: "HIGH".to_owned(),
                source: "db".to_owned(),
                name: "down".to_owned(),
                context: Default::default(),
            },
            rule_ids: Vec::new(),
            created_at: Utc::now(),
        };
        let target = Target {
            endpoint_id: uuid::Uuid::now_v7(),
            kind: EndpointKind::Webhook,
            value: format!("http://127.0.0.1:{port}/hook"),
            secret: None,
        };
        let attempt = channels.deliver(&payload, &target, "key").await;
        assert!(
            matches!(&attempt, Attempt::Retryable { error, .. } if error.starts_with("connection failed")),
            "{attempt:?}"
        );
    }

    #[test]
    fn escaping_keeps_markup_out() {
        assert_eq!(slack_escape("<@here> & co"), "&lt;@here&gt; &amp; co");
        assert_eq!(
            html_escape("<script>\"x\"</script>"),
            "&lt;script&gt;&quot;x&quot;&lt;/script&gt;"
        );
    }
}
