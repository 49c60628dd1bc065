//! Slows down repeated failed logins, per account and per client address, in this
//! process: after a few failures each attempt waits longer, and past a limit attempts
//! are refused (RATE_LIMITED) until the window has passed. Unknown accounts are
//! counted like known ones, so the throttle reveals nothing either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::AppError;

/// Failures remembered per key within this window.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures before attempts start to wait.
const FREE_FAILURES: u32 = 5;
/// Failures after which attempts are refused until the window passes.
const LOCKOUT_FAILURES: u32 = 20;
const MAX_DELAY: Duration = Duration::from_secs(4);

#[derive(Clone, Default)]
pub struct LoginThrottle {
    failures: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
}

/// The wait before an attempt after `failures` recent failures.
pub fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(5);
    (Duration::from_millis(250) * 2u32.pow(doublings)).min(MAX_DELAY)
}

impl LoginThrottle {
    fn recent(&self, key: &str) -> (u32, Option<Instant>) {
        let Ok(mut failures) = self.failures.lock() else {
            return (0, None);
        };
        match failures.get(key) {
            Some((count, last)) if last.elapsed() < WINDOW => (*count, Some(*last)),
            Some(_) => {
                failures.remove(key);
                (0, None)
            }
            None => (0, None),
        }
    }

    /// Before checking a password: waits as the failures of the account and the
    /// address demand, or refuses once either is locked out.
    pub async fn before_attempt(
        &self,
        account: &str,
        address: Option<&str>,
    ) -> Result<(), AppError> {
        let keys = [
            Some(format!("account:{account}")),
            address.map(|a| format!("ip:{a}")),
        ];
        let mut worst = 0;
        for key in keys.iter().flatten() {
            let (count, last) = self.recent(key);
            if count >= LOCKOUT_FAILURES {
                let retry = last.map_or(WINDOW, |l| WINDOW.saturating_sub(l.elapsed()));
                return Err(AppError::RateLimited(format!(
                    "too many failed logins; try again in {} seconds",
                    retry.as_secs().max(1)
                )));
            }
            worst = worst.max(count);
        }
        let delay = delay_after(worst);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }

    pub fn failed(&self, account: &str, address: Option<&str>) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        // Forget stale entries now and then so the map cannot grow without bound.
        if failures.len() > 10_000 {
            failures.retain(|_, (_, last)| last.elapsed() < WINDOW);
        }
        for key in [
            Some(format!("account:{account}")),
            address.map(|a| format!("ip:{a}")),
        ]
        .into_iter()
        .flatten()
        {
            let entry = failures.entry(key).or_insert((0, now));
            if entry.1.elapsed() >= WINDOW {
                entry.0 = 0;
            }
            entry.0 += 1;
            entry.1 = now;
        }
    }

    /// A successful login clears the account's failures (not the address's, which
    /// may be shared by an attacker and a user).
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&format!("account:{account}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_cap() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(4), Duration::ZERO);
        assert_eq!(delay_after(5), Duration::from_millis(250));
        assert_eq!(delay_after(6), Duration::from_millis(500));
        assert_eq!(delay_after(19), MAX_DELAY);
    }

    #[tokio::test]
    async fn failures_slow_then_lock_out_per_account_and_address() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_FAILURES {
            throttle.failed("a@x.example", Some("10.0.0.1"));
        }
        let clock = Instant::now();
        throttle
            .before_attempt("a@x.example", None)
            .await
            .expect("slowed, not refused");
        assert!(clock.elapsed() >= Duration::from_millis(250));
        // The address counts across accounts.
        let clock = Instant::now();
        throttle
            .before_attempt("b@x.example", Some("10.0.0.1"))
            .await
            .expect("slowed");
        assert!(clock.elapsed() >= Duration::from_millis(250));

        for _ in FREE_FAILURES..LOCKOUT_FAILURES {
            throttle.failed("a@x.example", Some("10.0.0.2"));
        }
        let refused = throttle.before_attempt("a@x.example", None).await;
        assert!(matches!(refused, Err(AppError::RateLimited(ref m)) if m.contains("try again")));
        // Success clears the account, not the address.
        throttle.succeeded("a@x.example");
        let clock = Instant::now();
        throttle
            .before_attempt("a@x.example", None)
            .await
            .expect("cleared");
        assert!(clock.elapsed() < Duration::from_millis(250));
        assert_eq!(
            throttle.recent("ip:10.0.0.2").0,
            LOCKOUT_FAILURES - FREE_FAILURES
        );
    }
}
