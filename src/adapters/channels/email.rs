//! Email: a plain-text and HTML message over SMTP (SMTP_URL), with the idempotency key
//! in a header; a permanent SMTP answer is not retried.

use alerting_handlers::ports::{Attempt, NotificationPayload, Target};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, header::HeaderName},
};

use super::{headline, resolved_line, slack::slack_escape};

fn html_escape(text: &str) -> String {
    slack_escape(text)
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(super) async fn deliver(
    smtp: Option<&AsyncSmtpTransport<Tokio1Executor>>,
    from: &Mailbox,
    payload: &NotificationPayload,
    target: &Target,
    key: &str,
) -> Attempt {
    let Some(smtp) = smtp else {
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
    let resolved = resolved_line(payload);
    let text = format!(
        "{}\n\nSeverity: {}\nSource: {}\nName: {}\nAt: {}\n{}Alert: {}\nNotification: {}\n{}",
        headline(payload),
        alert.severity,
        alert.source,
        alert.name,
        alert.event_ts.to_rfc3339(),
        resolved
            .as_ref()
            .map(|line| format!("Resolved: {line}\n"))
            .unwrap_or_default(),
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
        "<h2>{}</h2><table><tr><th>Severity</th><td>{}</td></tr><tr><th>Source</th><td>{}</td></tr><tr><th>Name</th><td>{}</td></tr><tr><th>At</th><td>{}</td></tr>{}{}</table><p>alert {} · notification {}</p>",
        html_escape(&headline(payload)),
        html_escape(&alert.severity),
        html_escape(&alert.source),
        html_escape(&alert.name),
        alert.event_ts.to_rfc3339(),
        resolved
            .map(|line| format!("<tr><th>Resolved</th><td>{}</td></tr>", html_escape(&line)))
            .unwrap_or_default(),
        context_html,
        html_escape(&alert.alert_id),
        payload.notification_id,
    );
    let message = Message::builder()
        .from(from.clone())
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

#[cfg(test)]
mod tests {
    use super::{html_escape, slack_escape};

    #[test]
    fn escaping_keeps_markup_out() {
        assert_eq!(slack_escape("<@here> & co"), "&lt;@here&gt; &amp; co");
        assert_eq!(
            html_escape("<script>\"x\"</script>"),
            "&lt;script&gt;&quot;x&quot;&lt;/script&gt;"
        );
    }
}
