//! The transactional outbox behind `rule.changed`, both halves together: every write
//! to a rule records an outbox row in the same transaction (`record`, called by the
//! rule-service), and the rule-updater's relay publishes unpublished rows to
//! `rule.changed` and marks them published (`relay`). A change is never published
//! without its write, nor lost after it: a crash between publish and mark publishes it
//! again, and the rule-updater's apply is idempotent.

pub mod record;
pub mod relay;
