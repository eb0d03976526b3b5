//! PagerDuty's Events API v2 (`POST /v2/enqueue`), so tools and client libraries that
//! emit PagerDuty events work unchanged: `routing_key` is an ingest key; `trigger`
//! fires an alert whose dedup key is the event's `dedup_key` (one is made when it has
//! none, and answered), `resolve` resolves the key's notification, `acknowledge`
//! acknowledges it. Errors come back in PagerDuty's shape (`status`, `message`,
//! `errors`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::labels;
use crate::domain::{Alert, AlertParts, MAX_DEDUP_KEY_CHARS, MAX_FIELD_CHARS, text::check_text};

/// An event as PagerDuty's Events API v2 takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Event {
    /// An ingest key of the platform (never logged, never echoed).
    pub routing_key: String,
    /// trigger, acknowledge or resolve.
    pub event_action: String,
    /// Required to acknowledge or resolve; made for a trigger without one.
    pub dedup_key: Option<String>,
    /// Required to trigger.
    pub payload: Option<EventPayload>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    #[serde(default)]
    pub links: Vec<EventLink>,
    /// Accepted and not kept.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub images: Vec<serde_json::Value>,
}

/// What the event is about.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EventPayload {
    /// At most 1,024 characters; the alert's name is its first 255.
    pub summary: String,
    pub source: String,
    /// critical, error, warning or info.
    pub severity: String,
    /// RFC 3339.
    pub timestamp: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    /// Any JSON: an object's fields go into the context as `custom_details.<name>`.
    #[schema(value_type = Object)]
    pub custom_details: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EventLink {
    pub href: String,
    pub text: Option<String>,
}

/// PagerDuty's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventAnswer {
    /// "success", or what went wrong ("invalid event", "throttle event").
    pub status: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// What an event asks for.
#[derive(Debug)]
pub enum Action {
    /// An alert to publish (a trigger, or a resolve).
    Publish(Alert),
    /// The key's notification is acknowledged.
    Acknowledge { dedup_key: String },
}

const MAX_SUMMARY_CHARS: usize = 1024;

/// What `event` asks for, or every error found in it (in PagerDuty's words).
pub fn parse(event: Event, now: DateTime<Utc>) -> Result<(Action, String), Vec<String>> {
    let mut errors = Vec::new();
    let dedup_key = event.dedup_key.filter(|key| !key.is_empty());
    match event.event_action.as_str() {
        "trigger" => {}
        "acknowledge" | "resolve" if dedup_key.is_none() => {
            errors.push("'dedup_key' is required to acknowledge or resolve".to_owned());
        }
        "acknowledge" => {
            let key = dedup_key.unwrap_or_default();
            if let Err(err) = check_text(&key, MAX_DEDUP_KEY_CHARS) {
                return Err(vec![format!("'dedup_key' {}", err.0)]);
            }
            return Ok((
                Action::Acknowledge {
                    dedup_key: key.clone(),
                },
                key,
            ));
        }
        "resolve" => {}
        other => errors.push(format!(
            "'event_action' must be trigger, acknowledge or resolve (got {other:?})"
        )),
    }
    let resolving = event.event_action == "resolve";
    // Only a trigger reads its payload: PagerDuty ignores a resolve's, and so do we.
    let payload = match event.payload {
        Some(_) if resolving => None,
        Some(payload) => Some(payload),
        None if event.event_action != "trigger" => None,
        None => {
            errors.push("'payload' is missing or blank".to_owned());
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let dedup_key = dedup_key.unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    // A resolve needs no payload: it names its key, and goes to the key's owner.
    let (severity, source, name, context, timestamp) = match payload {
        Some(payload) => {
            let chars = payload.summary.chars().count();
            if chars > MAX_SUMMARY_CHARS || payload.summary.trim().is_empty() {
                errors.push(format!(
                    "'payload.summary' must be 1-{MAX_SUMMARY_CHARS} characters (got {chars})"
                ));
            }
            let severity = match payload.severity.as_str() {
                "critical" | "error" | "warning" | "info" => labels::severity(&payload.severity),
                _ => None,
            };
            if severity.is_none() {
                errors
                    .push("'payload.severity' must be critical, error, warning or info".to_owned());
            }
            // A summary may run over lines (templates do): the name is its first 255
            // characters on one line.
            let name: String = payload
                .summary
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_FIELD_CHARS)
                .collect::<String>()
                .trim()
                .to_owned();
            let mut context = BTreeMap::new();
            context.insert("summary".to_owned(), payload.summary.clone());
            for (field, value) in [
                ("component", payload.component),
                ("group", payload.group),
                ("class", payload.class),
                ("client", event.client),
                ("client_url", event.client_url),
            ] {
                if let Some(value) = value.filter(|v| !v.is_empty()) {
                    context.insert(field.to_owned(), value);
                }
            }
            if let Some(serde_json::Value::Object(details)) = payload.custom_details {
                for (field, value) in details {
                    let text = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    context.insert(format!("custom_details.{field}"), text);
                }
            } else if let Some(details) = payload.custom_details {
                context.insert("custom_details".to_owned(), details.to_string());
            }
            for (n, link) in event.links.into_iter().enumerate() {
                context.insert(format!("links.{n}"), link.href);
            }
            let timestamp = match payload.timestamp.as_deref().map(iso_8601).transpose() {
                Ok(timestamp) => timestamp,
                Err(message) => {
                    errors.push(format!("'payload.timestamp' {message}"));
                    None
                }
            };
            (
                severity.map_or("LOW", |s| s.as_str()),
                payload.source,
                name,
                context,
                timestamp,
            )
        }
        None => (
            "LOW",
            "pagerduty".to_owned(),
            "resolve".to_owned(),
            BTreeMap::new(),
            None,
        ),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let alert_id = uuid::Uuid::now_v7().to_string();
    let parts = AlertParts {
        alert_id: Some(&alert_id),
        event_ts: timestamp.as_deref(),
        severity,
        source: &source,
        name: &name,
        context: Some(&context),
        dedup_key: Some(&dedup_key),
        status: Some(if resolving { "resolved" } else { "firing" }),
    };
    match Alert::parse(parts, now) {
        Ok(alert) => Ok((Action::Publish(alert), dedup_key)),
        Err(fields) => Err(fields
            .into_iter()
            .map(|field| {
                let name = match field.field {
                    "event_ts" => "payload.timestamp",
                    "source" => "payload.source",
                    "name" => "payload.summary",
                    "context" => "payload.custom_details",
                    other => other,
                };
                format!("'{name}' {}", field.message)
            })
            .collect()),
    }
}

/// An ISO 8601 time as PagerDuty takes it (its own examples write the offset `+0000`),
/// in RFC 3339.
fn iso_8601(text: &str) -> Result<String, String> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|time| time.to_rfc3339())
        .map_err(|err| format!("must be an ISO 8601 timestamp ({err})"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::AlertStatus;

    fn event(value: serde_json::Value) -> Event {
        serde_json::from_value(value).expect("an event")
    }

    /// PagerDuty's documented trigger example.
    #[test]
    fn a_trigger_fires_with_its_key_and_details() {
        let trigger = event(json!({
            "payload": {
                "summary": "DISK at 99% on machine prod-datapipe03.example.com",
                "timestamp": "2015-07-17T08:42:58.315+0000",
                "severity": "critical",
                "source": "prod-datapipe03.example.com",
                "component": "mysql",
                "group": "prod-datapipe",
                "class": "disk",
                "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75}
            },
            "routing_key": "samplekeyhere",
            "dedup_key": "samplekeyhere",
            "images": [{"src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png", "href": "https://example.com/", "alt": "Example text"}],
            "links": [{"href": "https://example.com/", "text": "Link text"}],
            "event_action": "trigger",
            "client": "Example Monitoring Client",
            "client_url": "https://monitoring.example.com"
        }));
        let (Action::Publish(alert), key) = parse(trigger, Utc::now()).expect("parsed") else {
            panic!("a trigger publishes");
        };
        assert_eq!(key, "samplekeyhere");
        assert_eq!(alert.dedup_key.as_deref(), Some("samplekeyhere"));
        assert_eq!(alert.event_ts.to_rfc3339(), "2015-07-17T08:42:58.315+00:00");
        assert_eq!(alert.context["class"], "disk");
        assert_eq!(alert.context["client"], "Example Monitoring Client");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.severity.as_str(), "CRITICAL");
        assert_eq!(alert.source, "prod-datapipe03.example.com");
        assert_eq!(
            alert.name,
            "DISK at 99% on machine prod-datapipe03.example.com"
        );
        assert_eq!(alert.context["component"], "mysql");
        assert_eq!(alert.context["custom_details.free space"], "1%");
        assert_eq!(alert.context["custom_details.load avg"], "0.75");
        assert_eq!(alert.context["links.0"], "https://example.com/");
    }

    #[test]
    fn a_trigger_without_a_key_gets_one_and_resolve_and_acknowledge_need_one() {
        let trigger = event(json!({"routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "down", "source": "web", "severity": "warning"}}));
        let (Action::Publish(alert), key) = parse(trigger, Utc::now()).expect("parsed") else {
            panic!("publishes");
        };
        assert_eq!(alert.dedup_key.as_deref(), Some(key.as_str()));
        assert_eq!(alert.severity.as_str(), "MEDIUM");

        let resolve =
            event(json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "web/down"}));
        let (Action::Publish(alert), _) = parse(resolve, Utc::now()).expect("parsed") else {
            panic!("publishes");
        };
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.dedup_key.as_deref(), Some("web/down"));

        let ack = event(
            json!({"routing_key": "k", "event_action": "acknowledge", "dedup_key": "web/down"}),
        );
        assert!(
            matches!(parse(ack, Utc::now()), Ok((Action::Acknowledge { dedup_key }, _)) if dedup_key == "web/down")
        );
        for action in ["acknowledge", "resolve"] {
            let keyless = event(json!({"routing_key": "k", "event_action": action}));
            assert_eq!(
                parse(keyless, Utc::now()).err(),
                Some(vec![
                    "'dedup_key' is required to acknowledge or resolve".to_owned()
                ])
            );
        }
    }

    #[test]
    fn bad_events_say_every_problem() {
        let bad = event(json!({"routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "", "source": "web", "severity": "sev-ish"}}));
        assert_eq!(
            parse(bad, Utc::now()).err(),
            Some(vec![
                "'payload.summary' must be 1-1024 characters (got 0)".to_owned(),
                "'payload.severity' must be critical, error, warning or info".to_owned()
            ])
        );
        let unknown =
            event(json!({"routing_key": "k", "event_action": "snooze", "dedup_key": "x"}));
        assert!(parse(unknown, Utc::now()).is_err());
        let missing = event(json!({"routing_key": "k", "event_action": "trigger"}));
        assert_eq!(
            parse(missing, Utc::now()).err(),
            Some(vec!["'payload' is missing or blank".to_owned()])
        );
    }

    /// What templates send: a summary over lines, cut where a space falls; a resolve
    /// carrying a payload PagerDuty would ignore.
    #[test]
    fn template_made_events_are_taken() {
        let summary = format!("{}\nsecond line", "x ".repeat(200));
        let trigger = event(
            json!({"routing_key": "k", "event_action": "trigger", "dedup_key": "t",
            "payload": {"summary": summary, "source": "web", "severity": "error"}}),
        );
        let (Action::Publish(alert), _) = parse(trigger, Utc::now()).expect("taken") else {
            panic!("publishes");
        };
        assert!(alert.name.chars().count() <= 255 && !alert.name.ends_with(' '));
        assert!(!alert.name.contains('\n'));
        assert_eq!(
            alert.context["summary"], summary,
            "kept whole in the context"
        );
        let resolve = event(
            json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "t",
            "payload": {"summary": "", "source": "", "severity": "nonsense"}}),
        );
        assert!(parse(resolve, Utc::now()).is_ok());
    }
}
