//! Messages from the bus: any bytes on any topic decode or are refused (and go to dead
//! letters), never a panic; the stored rule snapshot likewise.
#![no_main]

use alerting_handlers::{
    events::{AlertEvent, AlertMatchedEvent, NotificationReadyEvent, RuleChangedEvent},
    matching::MatchIndex,
    snapshot_format::EncodedSnapshot,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let _ = AlertEvent::decode(payload);
    let _ = RuleChangedEvent::decode(payload);
    let _ = AlertMatchedEvent::decode(payload);
    let _ = NotificationReadyEvent::decode(payload);
    if let Ok(snapshot) = EncodedSnapshot::from_bytes(payload.to_vec()) {
        let _ = MatchIndex::from_encoded(&snapshot);
    }
});
