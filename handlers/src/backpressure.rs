//! Back-pressure at ingestion: when the pipeline is `INGEST_MAX_BACKLOG` messages or
//! more behind (published on the bus and not yet done by the service that handles
//! them), an ingest request waits up to `INGEST_BACKLOG_WAIT` for room, then is refused
//! (the alert-producer answers 503 with `Retry-After`). So what is accepted waits behind
//! a bounded amount of work, and is delivered within a bounded time, instead of queueing
//! without end; a client sending flat out is slowed to the pipeline's pace (its requests
//! take longer) before it is ever refused. Load-generation jobs wait for room without
//! a limit: nobody is waiting on their answer.
//!
//! The limit is soft: a request is let in while the backlog is below it, so the requests
//! let in at one moment may take it past by their alerts (at most 1,000 each). Room is
//! not reserved, as the bound it would buy is the same order: a few batches.

use std::time::Duration;

use tokio::sync::watch;

/// How far behind the pipeline is, as the bus counts it, and how far it may be.
#[derive(Clone)]
pub struct BackPressure {
    /// Messages published and not yet done, kept current by the bus.
    backlog: watch::Receiver<u64>,
    /// At or above this, ingestion holds back (INGEST_MAX_BACKLOG, above zero).
    max: u64,
    /// How long a request waits for room before it is refused (INGEST_BACKLOG_WAIT).
    wait: Duration,
}

/// The pipeline stayed too far behind for the whole wait: nothing was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline is {behind} messages behind, at most {max} (INGEST_MAX_BACKLOG)")]
pub struct Backlogged {
    pub behind: u64,
    pub max: u64,
}

impl BackPressure {
    pub fn new(backlog: watch::Receiver<u64>, max: u64, wait: Duration) -> Self {
        Self { backlog, max, wait }
    }

    /// Returns once the pipeline has room (at once, nearly always), or
    /// [`Backlogged`] when it has had none for the whole wait.
    pub async fn room(&self) -> Result<(), Backlogged> {
        match tokio::time::timeout(self.wait, self.until_room()).await {
            Ok(()) => Ok(()),
            Err(_) => {
                crate::metrics::metrics().ingest_backlogged.inc();
                Err(Backlogged {
                    behind: *self.backlog.borrow(),
                    max: self.max,
                })
            }
        }
    }

    /// Returns once the pipeline has room, however long that takes.
    pub async fn until_room(&self) {
        let max = self.max;
        if *self.backlog.borrow() < max {
            return;
        }
        let mut backlog = self.backlog.clone();
        // An error means the bus stopped counting (it is closing): publishing says so.
        let _ = backlog.wait_for(|behind| *behind < max).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn below_the_limit_a_request_goes_through_at_once() {
        let (_total, backlog) = watch::channel(99);
        let pressure = BackPressure::new(backlog, 100, Duration::from_secs(5));
        let started = tokio::time::Instant::now();
        pressure.room().await.expect("room");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_limit_a_request_waits_until_the_pipeline_catches_up() {
        let (total, backlog) = watch::channel(100);
        let pressure = BackPressure::new(backlog, 100, Duration::from_secs(5));
        let waiting = tokio::spawn(async move { pressure.room().await });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            !waiting.is_finished(),
            "admitted while the pipeline was full"
        );
        total.send_replace(40);
        waiting
            .await
            .expect("joined")
            .expect("room once it drained");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pipeline_that_stays_behind_for_the_whole_wait_refuses() {
        let (_total, backlog) = watch::channel(250);
        let pressure = BackPressure::new(backlog, 100, Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        let refused = pressure.room().await.expect_err("refused");
        assert_eq!(started.elapsed(), Duration::from_secs(2), "waited first");
        assert_eq!(
            refused,
            Backlogged {
                behind: 250,
                max: 100
            }
        );
    }
}
