//! The time recurring work is planned by: the system clock, or in tests a manual one
//! that moves only when told, so schedules are tested without waiting.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::db::Timestamp;

#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock standing at `start` until set or advanced.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(start))),
        }
    }

    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(time) => match time.lock() {
                Ok(time) => Timestamp(*time),
                Err(poisoned) => Timestamp(*poisoned.into_inner()),
            },
            None => Timestamp::now(),
        }
    }

    /// Moves a manual clock to `time` (no effect on the system clock).
    pub fn set(&self, time: DateTime<Utc>) {
        if let Some(manual) = &self.manual
            && let Ok(mut now) = manual.lock()
        {
            *now = time;
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let now = self.now().0;
        self.set(now + by);
    }
}
