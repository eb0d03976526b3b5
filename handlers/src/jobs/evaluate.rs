//! The evaluator's handler: an alert in, one `alerts.matched` message per matching
//! client out.

use crate::{
    domain::Alert, events::AlertMatchedEvent, matching::MatchIndex, ports::OutgoingMessage,
};

pub fn evaluate(index: &MatchIndex, alert: &Alert) -> Vec<OutgoingMessage> {
    index
        .matches(alert)
        .into_iter()
        .map(|found| AlertMatchedEvent::message(alert, found.client_id, found.rule_ids))
        .collect()
}
