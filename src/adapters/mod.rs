//! Implementations of the ports of `alerting-handlers` (bus and subscriptions, snapshot
//! store, channels, metrics sink): Kafka, Redis, SMTP and CloudWatch in distributed
//! mode; in embedded mode the bus as a log on disk (`durable_bus`) and the snapshot in
//! process; a bus in memory for tests; and the SNS integration's HTTPS client.

pub mod channels;
pub mod cloudwatch;
pub mod durable_bus;
pub mod in_process_bus;
pub mod kafka;
pub mod memory_snapshot;
pub mod redis_snapshot;
pub mod sns_fetch;
