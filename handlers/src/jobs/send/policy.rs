//! How hard the sender tries one endpoint: attempts, backoff with jitter, the longest
//! `Retry-After` honoured, how many addresses one notification may reach, and when a
//! receiver that keeps failing counts as down.

use std::time::Duration;

use uuid::Uuid;

/// How hard the sender tries.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts per endpoint in one round (a redrive starts another round).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Addresses one notification is delivered to at most
    /// (MAX_DELIVERIES_PER_NOTIFICATION; 0: no limit): the oldest endpoints first, the
    /// rest recorded as failed, never tried. Without it one alert matching many rules
    /// could send thousands of requests.
    pub max_deliveries: usize,
}

impl DeliveryPolicy {
    /// Exponential backoff with ±25 % jitter, or the receiver's `Retry-After`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(retry_after) = retry_after {
            return retry_after.min(self.max_retry_after);
        }
        let exponential = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let spread = exponential.as_millis() as u64 / 2;
        let jitter = if spread == 0 {
            0
        } else {
            (Uuid::new_v4().as_u128() % u128::from(spread)) as u64
        };
        (exponential - exponential / 4) + Duration::from_millis(jitter)
    }
}

/// When a receiver counts as down: after `failures` attempts in a row that failed in a
/// way worth retrying (timeouts, connection errors, 5xx, 429), its deliveries are not
/// waited for during `cooldown`. They are deferred instead: recorded, left PENDING, and
/// tried again by the next redrive.
#[derive(Debug, Clone, Copy)]
pub struct CircuitBreaker {
    /// 0: never defer.
    pub failures: u32,
    pub cooldown: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            failures: 10,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let policy = DeliveryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
            max_deliveries: 0,
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(
                first >= Duration::from_millis(75) && first <= Duration::from_millis(125),
                "{first:?}"
            );
            let third = policy.delay(3, None);
            assert!(
                third >= Duration::from_millis(300) && third <= Duration::from_millis(500),
                "{third:?}"
            );
            let capped = policy.delay(10, None);
            assert!(capped <= Duration::from_millis(1250), "{capped:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }
}
