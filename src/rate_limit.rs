//! Request rate limits per client address, user and API key: token buckets held in
//! memory by each process (so N gateways allow N times the rate), refilled steadily
//! and holding at most one minute's allowance, which is also the largest burst.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets beyond which full (idle) ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One limit: `per_minute` requests a minute for each key.
pub struct Buckets {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> Buckets {
        Buckets {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request for `key`; when none is left, how long until one is.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_second
                    < capacity
            });
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let refill = now.saturating_duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// The limits of one process.
pub struct RateLimits {
    pub ip: Buckets,
    pub user: Buckets,
    pub api_key: Buckets,
}

impl RateLimits {
    pub fn new(ip: u32, user: u32, api_key: u32) -> RateLimits {
        RateLimits {
            ip: Buckets::new(ip),
            user: Buckets::new(user),
            api_key: Buckets::new(api_key),
        }
    }
}

/// Whole seconds a client should wait, for `Retry-After` (at least 1).
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_minute_then_refills_steadily() {
        let buckets = Buckets::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(buckets.take("a", start).is_ok());
        }
        let wait = buckets
            .take("a", start)
            .expect_err("the minute's allowance is spent");
        assert!((wait.as_secs_f64() - 1.0).abs() < 0.01, "{wait:?}");
        assert_eq!(retry_after_seconds(wait), 1);
        // Another key has its own bucket.
        assert!(buckets.take("b", start).is_ok());
        // One request a second comes back.
        assert!(
            buckets
                .take("a", start + Duration::from_millis(1_001))
                .is_ok()
        );
        assert!(
            buckets
                .take("a", start + Duration::from_millis(1_002))
                .is_err()
        );
        // Off.
        let off = Buckets::new(0);
        for _ in 0..1_000 {
            assert!(off.take("a", start).is_ok());
        }
        assert_eq!(retry_after_seconds(Duration::from_millis(2_500)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
