//! The evaluator's handler: an alert in, one `alerts.matched` message per matching
//! client out.

use crate::{
    domain::Alert, events::AlertMatchedEvent, matching::MatchIndex, ports::OutgoingMessage,
};

pub fn evaluate(index: &MatchIndex, alert: &Alert) -> Vec<OutgoingMessage> {
    let matches = index.matches(alert);
    // Debug level: one line per alert is too many for production's info level, but it
    // lets an operator follow one alert through every service by its id.
    tracing::debug!(alert_id = %alert.alert_id, clients = matches.len(), "alert evaluated");
    matches
        .into_iter()
        .map(|found| AlertMatchedEvent::message(alert, found.client_id, found.rule_ids))
        .collect()
}
