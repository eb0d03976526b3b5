//! Implementations of the ports of `alerting-handlers` (bus and subscriptions, snapshot
//! store, channels, metrics sink): Kafka, Redis, SMTP and CloudWatch in distributed
//! mode, in-process in embedded mode; and the SNS integration's HTTPS client.

pub mod channels;
pub mod cloudwatch;
pub mod in_process_bus;
pub mod kafka;
pub mod memory_snapshot;
pub mod redis_snapshot;
pub mod sns_fetch;
