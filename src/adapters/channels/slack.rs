//! Slack: an incoming-webhook message with Block Kit sections (severity, source, name,
//! time, when a resolution says it was resolved, and the first few context fields),
//! escaped for mrkdwn.

use alerting_handlers::ports::{Attempt, NotificationPayload, Target};

use super::{
    headline,
    http::{classify, transport_error},
    resolved_line,
};

/// Slack's mrkdwn treats these three specially.
pub(super) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) async fn deliver(
    http: &reqwest::Client,
    payload: &NotificationPayload,
    target: &Target,
) -> Attempt {
    let alert = &payload.alert;
    let mut fields = vec![
        serde_json::json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", slack_escape(&alert.severity))}),
        serde_json::json!({"type": "mrkdwn", "text": format!("*Source*\n{}", slack_escape(&alert.source))}),
        serde_json::json!({"type": "mrkdwn", "text": format!("*Name*\n{}", slack_escape(&alert.name))}),
        serde_json::json!({"type": "mrkdwn", "text": format!("*At*\n{}", alert.event_ts.to_rfc3339())}),
    ];
    if let Some(resolved) = resolved_line(payload) {
        fields
            .push(serde_json::json!({"type": "mrkdwn", "text": format!("*Resolved*\n{resolved}")}));
    }
    // Slack allows ten fields per section.
    for (key, value) in alert.context.iter().take(10 - fields.len()) {
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
    match http.post(&target.value).json(&message).send().await {
        Ok(response) => classify(&response),
        Err(err) => transport_error(err),
    }
}
