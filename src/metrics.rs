//! Process-wide gauges: what is open right now (WebSocket connections, subscriptions).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A count of things held open; each [`Held`] counts once until dropped, so whatever
/// ends a connection or a subscription (a close, an error, a vanished client, a
/// shutdown) gives its count back.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicUsize>);

impl Gauge {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one more until the returned guard is dropped.
    pub fn hold(&self) -> Held {
        self.0.fetch_add(1, Ordering::Relaxed);
        Held(Arc::clone(&self.0))
    }

    /// Like [`Gauge::hold`], unless `max` are held already.
    pub fn try_hold(&self, max: usize) -> Option<Held> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Held(Arc::clone(&self.0)))
    }
}

/// One count of a [`Gauge`], given back on drop.
#[derive(Debug)]
pub struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What is open in this process.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Open GraphQL WebSocket connections.
    pub websockets: Gauge,
    /// Running subscriptions, over every transport.
    pub subscriptions: Gauge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_counts_are_given_back_on_drop() {
        let gauge = Gauge::default();
        let first = gauge.hold();
        let second = gauge.try_hold(2).expect("below the cap");
        assert_eq!(gauge.get(), 2);
        assert!(gauge.try_hold(2).is_none(), "at the cap");
        drop(first);
        assert_eq!(gauge.get(), 1);
        let third = gauge.try_hold(2);
        assert!(third.is_some());
        drop((second, third));
        assert_eq!(gauge.get(), 0);
    }
}
