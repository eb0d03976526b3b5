//! The evaluator's handler: an alert in, one `alerts.matched` message per matching
//! client out. A resolved alert of an owner goes to its owner even when no rule of the
//! owner's matches it now: the rule may have been disabled or edited since the alert
//! fired, and what it opened must still close.

use crate::{
    domain::{Alert, AlertStatus},
    events::AlertMatchedEvent,
    matching::{ClientMatch, MatchIndex},
    ports::OutgoingMessage,
};

pub fn evaluate(index: &MatchIndex, alert: &Alert) -> Vec<OutgoingMessage> {
    let mut matches = index.matches(alert);
    if alert.status == AlertStatus::Resolved
        && matches.is_empty()
        && let Some(owner) = &alert.owner
    {
        matches.push(ClientMatch {
            client_id: owner.as_str(),
            rule_ids: Vec::new(),
        });
    }
    // Debug level: one line per alert is too many for production's info level, but it
    // lets an operator follow one alert through every service by its id.
    tracing::debug!(alert_id = %alert.alert_id, clients = matches.len(), "alert evaluated");
    matches
        .into_iter()
        .map(|found| AlertMatchedEvent::message(alert, found.client_id, found.rule_ids))
        .collect()
}
