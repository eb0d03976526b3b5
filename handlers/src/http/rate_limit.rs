//! A request rate per key: a token bucket per caller, refilled continuously, as deep
//! as one second of the rate (a producer may send a second's requests at once). Over
//! the rate, the answer is 429 with `Retry-After`. Each process counts on its own, so
//! with N alert-producers behind a load balancer a key gets up to N times the rate.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::ApiError;

/// Above this many callers, buckets that have filled up again are forgotten.
const FORGET_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    /// The setting the rate comes from, named in a 429.
    setting: &'static str,
    per_second: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` requests per caller (from `setting`); 0 for no limit.
    pub fn new(setting: &'static str, per_second: u32) -> Self {
        Self {
            setting,
            per_second,
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from `caller`'s bucket, or says how long to wait.
    pub fn check(&self, caller: &str) -> Result<(), ApiError> {
        self.check_at(caller, Instant::now())
    }

    fn check_at(&self, caller: &str, now: Instant) -> Result<(), ApiError> {
        if self.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > FORGET_ABOVE {
            buckets.retain(|_, b| refilled(*b, now, rate) < rate);
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        bucket.tokens = refilled(*bucket, now, rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
        Err(ApiError::RateLimited {
            setting: self.setting,
            limit: self.per_second,
            retry_after_s: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        })
    }
}

fn refilled(bucket: Bucket, now: Instant, rate: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_a_seconds_worth_at_once_then_the_rate() {
        let limiter = RateLimiter::new("INGEST_RATE_LIMIT", 5);
        let start = Instant::now();
        for _ in 0..5 {
            assert!(limiter.check_at("a", start).is_ok());
        }
        match limiter.check_at("a", start) {
            Err(ApiError::RateLimited {
                setting: "INGEST_RATE_LIMIT",
                limit: 5,
                retry_after_s,
            }) => assert_eq!(retry_after_s, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        // Another caller has its own bucket.
        assert!(limiter.check_at("b", start).is_ok());
        // A fifth of a second later, one more request fits.
        let later = start + Duration::from_millis(200);
        assert!(limiter.check_at("a", later).is_ok());
        assert!(limiter.check_at("a", later).is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = RateLimiter::new("INGEST_RATE_LIMIT", 0);
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.check_at("a", now).is_ok()));
    }
}
