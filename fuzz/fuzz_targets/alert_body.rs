//! `POST /api/v1/alerts` bodies: any bytes either parse into alerts or are refused with
//! an error, never a panic; and every alert that is accepted survives its trip over the
//! bus (encoded as `alerts.new`, decoded by the evaluator) unchanged.
#![no_main]

use alerting_handlers::{events::AlertEvent, http::alert_producer::parse_alerts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    if let Ok(alerts) = parse_alerts(body, now) {
        for alert in alerts {
            let message = AlertEvent::message(&alert);
            let decoded = AlertEvent::decode(&message.payload);
            assert_eq!(decoded.ok().as_ref(), Some(&alert), "an accepted alert decodes as sent");
        }
    }
});
