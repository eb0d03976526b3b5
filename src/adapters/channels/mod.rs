//! The delivery channels, one module each: webhook and Slack over HTTP, email over
//! SMTP. One call is one attempt; the answer says whether another attempt could help.
//! Webhook and Slack addresses are checked here too: a URL naming a private address
//! is refused before anything is sent, and a name is resolved to public addresses only
//! (unless ALLOW_PRIVATE_ENDPOINTS).

mod email;
mod http;
mod slack;
mod webhook;

use alerting_handlers::{
    domain::EndpointKind,
    ports::{Attempt, Channel, NotificationPayload, Target},
    safe_targets,
};
use async_trait::async_trait;
use lettre::{AsyncSmtpTransport, Tokio1Executor, message::Mailbox};

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

impl Channels {
    pub fn new(config: &DeliveryConfig, allow_private: bool) -> Result<Self, ChannelSetupError> {
        let mut builder = crate::http_client::builder();
        if !allow_private {
            // Through a proxy (HTTPS_PROXY…) only the proxy's name would be resolved here.
            builder = builder.dns_resolver(http::PublicOnly).no_proxy();
        }
        let http = builder
            .timeout(config.delivery_timeout)
            .connect_timeout(config.delivery_timeout)
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
                    .map(|builder| builder.timeout(Some(config.delivery_timeout)).build())
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

/// The subject line: the alert; for a resolution, that it is over and how long it
/// lasted; for a repeat, that it is still firing.
fn headline(payload: &NotificationPayload) -> String {
    let alert = format!(
        "[{}] {}: {}",
        payload.alert.severity, payload.alert.source, payload.alert.name
    );
    match (&payload.resolution, payload.repeat) {
        (Some(resolution), _) => {
            format!("Resolved: {alert}, after {}", resolution.lasted_text())
        }
        (None, Some(repeat)) => format!("Still firing (repeat {repeat}): {alert}"),
        (None, None) => alert,
    }
}

/// The line a Slack message or an email adds for a resolution.
fn resolved_line(payload: &NotificationPayload) -> Option<String> {
    payload.resolution.as_ref().map(|resolution| {
        format!(
            "{} (lasted {})",
            resolution.resolved_at.to_rfc3339(),
            resolution.lasted_text()
        )
    })
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
            EndpointKind::Webhook => webhook::deliver(&self.http, payload, target, key).await,
            EndpointKind::Slack => slack::deliver(&self.http, payload, target).await,
            EndpointKind::Email => {
                email::deliver(self.smtp.as_ref(), &self.from, payload, target, key).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                event_ts: chrono::Utc::now(),
                severity: "HIGH".to_owned(),
                source: "db".to_owned(),
                name: "down".to_owned(),
                context: Default::default(),
                dedup_key: None,
                status: Default::default(),
            },
            rule_ids: Vec::new(),
            created_at: chrono::Utc::now(),
            resolution: None,
            repeat: None,
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
}
