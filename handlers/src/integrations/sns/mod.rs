//! CloudWatch alarms through Amazon SNS (`POST /api/v1/integrations/sns`): an HTTPS
//! subscription's messages, each verified as Amazon's before anything is done with it.
//! A subscription confirmation is confirmed (its `SubscribeURL` visited); a
//! notification carrying an alarm's state change fires (`ALARM`) or resolves (`OK`),
//! the alarm's ARN its dedup key.
//!
//! Layout: `signature` decides whether a message is Amazon's; this module reads
//! messages and alarms, and holds the signing certificates it has fetched.

pub mod signature;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;
use utoipa::ToSchema;

pub use signature::{SnsHosts, Unverified};

use crate::domain::{Alert, AlertParts};

/// A message SNS posts to an HTTP(S) subscription, as its documentation gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    /// `SubscriptionConfirmation`, `Notification` or `UnsubscribeConfirmation`.
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    /// Confirmations only.
    pub token: Option<String>,
    pub topic_arn: String,
    /// Notifications only, and only when the publisher gave one.
    pub subject: Option<String>,
    /// For a CloudWatch alarm's notification, the alarm's state change as JSON.
    pub message: String,
    pub timestamp: String,
    /// 1 (RSA with SHA-1) or 2 (RSA with SHA-256).
    pub signature_version: String,
    /// Base64.
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    /// Confirmations only: visited to confirm the subscription.
    #[serde(rename = "SubscribeURL")]
    pub subscribe_url: Option<String>,
}

/// Gets what an SNS message points at over HTTPS: its signing certificate, and a
/// subscription's confirmation URL. The platform passes an HTTPS client; every URL it
/// is given has passed [`SnsHosts::check`].
#[async_trait]
pub trait Fetch: Send + Sync + 'static {
    /// The body of a GET of `url` (at most a few KiB: a certificate, or SNS's answer
    /// to a confirmation); `Err` says why not, without the URL's query.
    async fn get(&self, url: &Url) -> Result<Vec<u8>, String>;
}

/// What became of a verified message.
#[derive(Debug, PartialEq)]
pub enum Received {
    /// A subscription confirmation: the subscription is confirmed.
    Confirmed,
    /// The topic no longer sends here; nothing to do.
    Unsubscribed,
    /// An alarm's state change, as an alert; `None` for `INSUFFICIENT_DATA`, which says
    /// neither that the problem began nor that it ended.
    Alarm(Option<Alert>),
}

#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    /// Not taken as Amazon's: refused (403), nothing done.
    #[error(transparent)]
    Unverified(#[from] Unverified),
    /// A certificate or a confirmation could not be fetched: worth SNS's retry.
    #[error("{0}")]
    Unreachable(String),
    /// Amazon's, but not what this route takes: the field and what was wrong.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// At most this many signing certificates are kept (SNS signs with one per region,
/// changed every few years).
const KEPT_CERTIFICATES: usize = 64;

/// Receives SNS messages: verifies, confirms, maps alarms.
pub struct Sns {
    hosts: SnsHosts,
    fetch: Arc<dyn Fetch>,
    certificates: Mutex<HashMap<Url, Arc<[u8]>>>,
}

impl Sns {
    pub fn new(hosts: SnsHosts, fetch: Arc<dyn Fetch>) -> Self {
        Self {
            hosts,
            fetch,
            certificates: Mutex::default(),
        }
    }

    /// Verifies `message`, then does what it asks.
    pub async fn receive(
        &self,
        message: &SnsMessage,
        now: DateTime<Utc>,
    ) -> Result<Received, SnsError> {
        let kind = message.kind.as_str();
        if !matches!(
            kind,
            "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
        ) {
            return Err(SnsError::Invalid {
                field: "Type",
                message: format!(
                    "must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation (got {kind:?})"
                ),
            });
        }
        let certificate_url = self
            .hosts
            .check("SigningCertURL", &message.signing_cert_url)?;
        let certificate = self.certificate(certificate_url).await?;
        signature::verify(message, &certificate)?;
        // Signed, so the time is SNS's: a message captured once is refused later.
        let sent = DateTime::parse_from_rfc3339(&message.timestamp)
            .map_err(|_| Unverified::Stale(message.timestamp.clone()))?
            .with_timezone(&Utc);
        if now - sent > chrono::Duration::hours(1) || sent - now > chrono::Duration::minutes(5) {
            return Err(Unverified::Stale(message.timestamp.clone()).into());
        }
        match kind {
            "SubscriptionConfirmation" => {
                let url = message.subscribe_url.as_deref().unwrap_or_default();
                let url = self.hosts.check("SubscribeURL", url)?;
                self.fetch.get(&url).await.map_err(|err| {
                    SnsError::Unreachable(format!("confirming the subscription failed: {err}"))
                })?;
                Ok(Received::Confirmed)
            }
            "UnsubscribeConfirmation" => Ok(Received::Unsubscribed),
            _ => alarm(message, now).map(Received::Alarm),
        }
    }

    /// The certificate at `url` (its query ignored: SNS's have none), fetched once and
    /// kept once it reads as a certificate.
    async fn certificate(&self, mut url: Url) -> Result<Arc<[u8]>, SnsError> {
        url.set_query(None);
        url.set_fragment(None);
        if let Some(kept) = self.kept().get(&url) {
            return Ok(kept.clone());
        }
        let body: Arc<[u8]> = self
            .fetch
            .get(&url)
            .await
            .map_err(|err| {
                SnsError::Unreachable(format!("fetching the signing certificate failed: {err}"))
            })?
            .into();
        signature::certificate(&body)?;
        let mut kept = self.kept();
        if kept.len() >= KEPT_CERTIFICATES
            && let Some(any) = kept.keys().next().cloned()
        {
            kept.remove(&any);
        }
        kept.insert(url, body.clone());
        Ok(body)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<Url, Arc<[u8]>>> {
        // A panic elsewhere while holding it leaves a map that is still whole.
        self.certificates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A CloudWatch alarm's state change, as SNS carries it in `Message`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmChange {
    alarm_name: String,
    alarm_description: Option<String>,
    #[serde(rename = "AWSAccountId")]
    aws_account_id: Option<String>,
    new_state_value: String,
    new_state_reason: Option<String>,
    state_change_time: Option<String>,
    region: Option<String>,
    alarm_arn: Option<String>,
    old_state_value: Option<String>,
    /// A metric alarm's metric, dimensions and threshold (a metric math alarm's has
    /// other fields: only these are read).
    trigger: Option<serde_json::Value>,
}

/// The alert an alarm's notification makes: named by the SNS message (a redelivery is
/// the same alert), the alarm's ARN its dedup key, severity HIGH (an alarm has none).
fn alarm(message: &SnsMessage, now: DateTime<Utc>) -> Result<Option<Alert>, SnsError> {
    let change: AlarmChange = serde_json::from_str(&message.message).map_err(|err| {
        SnsError::Invalid {
            field: "Message",
            message: format!(
                "must be a CloudWatch alarm's state change (JSON with AlarmName and NewStateValue): {err}"
            ),
        }
    })?;
    let resolved = match change.new_state_value.as_str() {
        "ALARM" => false,
        "OK" => true,
        "INSUFFICIENT_DATA" => return Ok(None),
        other => {
            return Err(SnsError::Invalid {
                field: "Message.NewStateValue",
                message: format!("must be ALARM, OK or INSUFFICIENT_DATA (got {other:?})"),
            });
        }
    };
    let changed = change
        .state_change_time
        .as_deref()
        .map(aws_time)
        .transpose()?;
    // Alarms posted before CloudWatch added AlarmArn: the account, region and name.
    let dedup_key = change.alarm_arn.clone().unwrap_or_else(|| {
        format!(
            "cloudwatch:{}:{}:{}",
            change.aws_account_id.as_deref().unwrap_or_default(),
            change.region.as_deref().unwrap_or_default(),
            change.alarm_name
        )
    });
    let trigger = change.trigger.as_ref();
    let text = |field: &str| trigger?.get(field)?.as_str().filter(|s| !s.is_empty());
    let source = text("Namespace").unwrap_or("cloudwatch");
    let mut context = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            context.insert(key.to_owned(), value);
        }
    };
    put("description", change.alarm_description.clone());
    put("reason", change.new_state_reason.clone());
    put(
        "state",
        Some(format!(
            "{} -> {}",
            change.old_state_value.as_deref().unwrap_or("?"),
            change.new_state_value
        )),
    );
    put("account", change.aws_account_id.clone());
    put("region", change.region.clone());
    put("alarm_arn", change.alarm_arn.clone());
    put("metric", text("MetricName").map(str::to_owned));
    put("dimensions", trigger.and_then(dimensions));
    put("threshold", trigger.and_then(threshold));
    put("topic_arn", Some(message.topic_arn.clone()));
    let alert_id = format!("sns:{}", message.message_id);
    let event_ts = changed.unwrap_or(now).to_rfc3339();
    let parts = AlertParts {
        alert_id: Some(&alert_id),
        event_ts: Some(&event_ts),
        severity: "HIGH",
        source,
        name: &change.alarm_name,
        context: Some(&context),
        dedup_key: Some(&dedup_key),
        status: Some(if resolved { "resolved" } else { "firing" }),
    };
    Alert::parse(parts, now).map(Some).map_err(|mut fields| {
        let field = fields.remove(0);
        SnsError::Invalid {
            field: match field.field {
                "alert_id" => "MessageId",
                "source" => "Message.Trigger.Namespace",
                "name" => "Message.AlarmName",
                "dedup_key" => "Message.AlarmArn",
                "event_ts" => "Message.StateChangeTime",
                _ => "Message",
            },
            message: field.message,
        }
    })
}

/// CloudWatch's times: `2017-01-12T16:30:42.236+0000` (no colon in the offset), or
/// RFC 3339.
fn aws_time(value: &str) -> Result<DateTime<Utc>, SnsError> {
    DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(value))
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| SnsError::Invalid {
            field: "Message.StateChangeTime",
            message: format!("must be a time such as 2017-01-12T16:30:42.236+0000 ({err})"),
        })
}

/// `InstanceId=i-0abc, AutoScalingGroupName=web`.
fn dimensions(trigger: &serde_json::Value) -> Option<String> {
    let pairs: Vec<String> = trigger
        .get("Dimensions")?
        .as_array()?
        .iter()
        .filter_map(|d| {
            Some(format!(
                "{}={}",
                d.get("name")?.as_str()?,
                d.get("value")?.as_str()?
            ))
        })
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(", "))
}

/// `GreaterThanThreshold 80`.
fn threshold(trigger: &serde_json::Value) -> Option<String> {
    let operator = trigger.get("ComparisonOperator")?.as_str()?;
    let value = trigger.get("Threshold")?;
    Some(format!("{operator} {value}"))
}

#[cfg(test)]
mod tests;
