//! The wire format of every topic: JSON with a `schema_version`. Keys: `alerts.new` by
//! `alert_id`; `rule.changed` by `rule_id`; `alerts.matched` and `notifications.ready`
//! by `client_id`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{Alert, AlertParts, AlertStatus, ClientId},
    ports::OutgoingMessage,
};

pub const SCHEMA_VERSION: u32 = 1;

/// Logical topic names; a bus adapter may prefix them (tests isolate themselves so).
pub mod topics {
    pub const ALERTS_NEW: &str = "alerts.new";
    pub const RULE_CHANGED: &str = "rule.changed";
    pub const ALERTS_MATCHED: &str = "alerts.matched";
    pub const NOTIFICATIONS_READY: &str = "notifications.ready";
    pub const ALL: [&str; 4] = [
        ALERTS_NEW,
        RULE_CHANGED,
        ALERTS_MATCHED,
        NOTIFICATIONS_READY,
    ];
    pub const PARTITIONS: i32 = 9;

    /// Where the messages of `topic` that cannot be processed go.
    pub fn dead_letters(topic: &str) -> String {
        format!("{topic}.dlq")
    }

    /// Every topic and its dead-letter topic.
    pub fn all_with_dead_letters() -> Vec<String> {
        ALL.iter()
            .flat_map(|topic| [(*topic).to_owned(), dead_letters(topic)])
            .collect()
    }
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// An event on the wire, which knows its schema version.
trait Event: serde::de::DeserializeOwned {
    fn schema_version(&self) -> u32;
}

/// Parses a payload once; only when that fails, or the version is not ours, parses it
/// again to say why.
fn decode<T: Event>(topic: &str, payload: &[u8]) -> Result<T, DecodeError> {
    match serde_json::from_slice::<T>(payload) {
        Ok(event) if event.schema_version() == SCHEMA_VERSION => Ok(event),
        Ok(event) => Err(unsupported(topic, event.schema_version())),
        Err(err) => Err(explain(topic, payload, &err)),
    }
}

fn unsupported(topic: &str, version: u32) -> DecodeError {
    DecodeError(format!(
        "{topic}: unsupported schema_version {version} (this build reads {SCHEMA_VERSION})"
    ))
}

/// Why a payload did not parse: not JSON, no or another schema version (a newer
/// schema may not parse at all), or a field of ours.
fn explain(topic: &str, payload: &[u8], err: &serde_json::Error) -> DecodeError {
    #[derive(Deserialize)]
    struct Versioned {
        schema_version: Option<u32>,
    }
    match serde_json::from_slice::<Versioned>(payload) {
        Err(not_json) => DecodeError(format!("{topic}: not a JSON object: {not_json}")),
        Ok(Versioned {
            schema_version: None,
        }) => DecodeError(format!("{topic}: missing schema_version")),
        Ok(Versioned {
            schema_version: Some(version),
        }) if version != SCHEMA_VERSION => unsupported(topic, version),
        Ok(_) => DecodeError(format!("{topic}: {err}")),
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys.
    serde_json::to_vec(value).unwrap_or_default()
}

/// An alert on `alerts.new`, and inside `alerts.matched`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertBody {
    /// The client the alert belongs to; absent for the shared feed (see
    /// [`Alert::owner`]). Messages written before alerts had owners have none, and were
    /// the shared feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub alert_id: String,
    pub event_ts: DateTime<Utc>,
    pub severity: String,
    pub source: String,
    pub name: String,
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// See [`Alert::dedup_key`]; absent from alerts without one (and from messages
    /// written before alerts had them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    /// firing (left out) or resolved.
    #[serde(default, skip_serializing_if = "AlertStatus::is_firing")]
    pub status: AlertStatus,
}

impl From<&Alert> for AlertBody {
    fn from(alert: &Alert) -> Self {
        Self {
            owner: alert.owner.as_ref().map(|owner| owner.as_str().to_owned()),
            alert_id: alert.alert_id.clone(),
            event_ts: alert.event_ts,
            severity: alert.severity.as_str().to_owned(),
            source: alert.source.clone(),
            name: alert.name.clone(),
            context: alert.context.clone(),
            dedup_key: alert.dedup_key.clone(),
            status: alert.status,
        }
    }
}

impl AlertBody {
    /// Validates the alert as the API would.
    pub fn into_alert(self) -> Result<Alert, DecodeError> {
        let owner = self
            .owner
            .as_deref()
            .map(ClientId::parse)
            .transpose()
            .map_err(|err| DecodeError(format!("owner: {err}")))?;
        let event_ts = self.event_ts.to_rfc3339();
        Alert::parse(
            AlertParts {
                alert_id: Some(&self.alert_id),
                event_ts: Some(&event_ts),
                severity: &self.severity,
                source: &self.source,
                name: &self.name,
                context: Some(&self.context),
                dedup_key: self.dedup_key.as_deref(),
                status: Some(self.status.as_str()),
            },
            Utc::now(),
        )
        .map_err(|errors| {
            DecodeError(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })
        .map(|alert| alert.owned_by(owner))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub schema_version: u32,
    #[serde(flatten)]
    pub alert: AlertBody,
}

impl Event for AlertEvent {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

impl AlertEvent {
    /// Keyed by the alert's owner and dedup key when it has one, else by its id: every
    /// alert of one owner with one key goes to one partition, read in the order it was
    /// sent, so the first of them opens the notification, and `alerts.matched` (keyed
    /// by client) keeps that order on to the aggregator. The owner in the key spreads
    /// a key every client uses ("disk-full") over the partitions.
    pub fn message(alert: &Alert) -> OutgoingMessage {
        let event = Self {
            schema_version: SCHEMA_VERSION,
            alert: alert.into(),
        };
        let key = match (&alert.owner, &alert.dedup_key) {
            (Some(owner), Some(key)) => format!("{}/{key}", owner.as_str()),
            (None, Some(key)) => key.clone(),
            (_, None) => alert.alert_id.clone(),
        };
        OutgoingMessage::new(topics::ALERTS_NEW, &key, encode(&event))
    }

    /// Decodes and validates an `alerts.new` payload.
    pub fn decode(payload: &[u8]) -> Result<Alert, DecodeError> {
        decode::<Self>(topics::ALERTS_NEW, payload)?
            .alert
            .into_alert()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChangedEvent {
    pub schema_version: u32,
    pub rule_id: Uuid,
    pub client_id: String,
    /// CREATED, UPDATED, ENABLED, DISABLED or DELETED.
    pub action: String,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl Event for RuleChangedEvent {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

impl RuleChangedEvent {
    pub fn message(&self) -> OutgoingMessage {
        OutgoingMessage::new(
            topics::RULE_CHANGED,
            &self.rule_id.to_string(),
            encode(self),
        )
    }

    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        decode(topics::RULE_CHANGED, payload)
    }
}

/// One client's match of one alert, with all of that client's matching rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMatchedEvent {
    pub schema_version: u32,
    pub alert: AlertBody,
    pub client_id: String,
    pub rule_ids: Vec<Uuid>,
}

impl Event for AlertMatchedEvent {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

impl AlertMatchedEvent {
    pub fn message(alert: &Alert, client_id: &str, rule_ids: Vec<Uuid>) -> OutgoingMessage {
        let event = Self {
            schema_version: SCHEMA_VERSION,
            alert: alert.into(),
            client_id: client_id.to_owned(),
            rule_ids,
        };
        OutgoingMessage::new(topics::ALERTS_MATCHED, client_id, encode(&event))
    }

    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        decode(topics::ALERTS_MATCHED, payload)
    }
}

/// A notification to deliver, keyed by client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationReadyEvent {
    pub schema_version: u32,
    pub notification_id: Uuid,
    pub client_id: String,
    pub alert_id: String,
}

impl Event for NotificationReadyEvent {
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
}

impl NotificationReadyEvent {
    pub fn message(notification_id: Uuid, client_id: &str, alert_id: &str) -> OutgoingMessage {
        let event = Self {
            schema_version: SCHEMA_VERSION,
            notification_id,
            client_id: client_id.to_owned(),
            alert_id: alert_id.to_owned(),
        };
        OutgoingMessage::new(topics::NOTIFICATIONS_READY, client_id, encode(&event))
    }

    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        decode(topics::NOTIFICATIONS_READY, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;

    fn alert() -> Alert {
        Alert {
            owner: None,
            alert_id: "a-1".into(),
            event_ts: Utc::now(),
            severity: Severity::High,
            source: "payments".into(),
            name: "declined".into(),
            context: [("region".to_owned(), "eu".to_owned())].into(),
            dedup_key: None,
            status: AlertStatus::Firing,
        }
    }

    #[test]
    fn alerts_round_trip_with_their_key() {
        let alert = alert();
        let message = AlertEvent::message(&alert);
        assert_eq!(message.topic, "alerts.new");
        assert_eq!(message.key, "a-1");
        assert_eq!(AlertEvent::decode(&message.payload), Ok(alert));
    }

    #[test]
    fn an_owned_alert_keeps_its_owner_on_the_wire_and_a_shared_one_has_none() {
        let owned = alert().owned_by(Some(ClientId::parse("acme").expect("id")));
        let message = AlertEvent::message(&owned);
        assert_eq!(AlertEvent::decode(&message.payload), Ok(owned));
        let shared = AlertEvent::message(&alert());
        let json: serde_json::Value = serde_json::from_slice(&shared.payload).expect("json");
        assert!(json.get("owner").is_none(), "{json}");
        let forged = br#"{"schema_version": 1, "owner": "no spaces allowed", "alert_id": "x", "event_ts": "2026-01-01T00:00:00Z", "severity": "LOW", "source": "s", "name": "n"}"#;
        let err = AlertEvent::decode(forged).expect_err("refused");
        assert!(err.0.contains("owner"), "{err}");
    }

    #[test]
    fn undecodable_alerts_say_why() {
        let cases: [(&[u8], &str); 4] = [
            (b"not json", "not a JSON object"),
            (br#"{"alert_id": "x"}"#, "missing schema_version"),
            (br#"{"schema_version": 2}"#, "unsupported schema_version 2"),
            (
                br#"{"schema_version": 1, "alert_id": "x", "event_ts": "2026-01-01T00:00:00Z", "severity": "LOUD", "source": "s", "name": "n"}"#,
                "severity",
            ),
        ];
        for (payload, reason) in cases {
            let err = AlertEvent::decode(payload).expect_err("refused");
            assert!(err.0.contains(reason), "{err} should mention {reason}");
        }
    }

    #[test]
    fn matches_are_keyed_by_client() {
        let rule = Uuid::new_v4();
        let message = AlertMatchedEvent::message(&alert(), "acme", vec![rule]);
        assert_eq!(
            (message.topic.as_str(), message.key.as_str()),
            ("alerts.matched", "acme")
        );
        let event = AlertMatchedEvent::decode(&message.payload).expect("decodes");
        assert_eq!(event.rule_ids, [rule]);
        assert_eq!(event.alert.alert_id, "a-1");
    }
}
