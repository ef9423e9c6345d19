//! Time, injected: every service takes `now` from a [`Clock`] so tests can move time instead of
//! sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// The wall clock, optionally shifted by an offset that tests control.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The real time.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, to the microsecond: the precision PostgreSQL keeps, so a time read back from the
    /// database equals the one written (deadlines are compared for equality).
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }

    /// Sets the offset from the real time.
    pub fn set_offset(&self, offset: Duration) {
        self.offset_ms
            .store(offset.num_milliseconds(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_the_databases_precision() {
        assert_eq!(Clock::system().now().timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::system();
        let other = clock.clone();
        clock.advance(Duration::hours(48));
        let ahead = other.now() - Utc::now();
        assert!(ahead >= Duration::hours(48) - Duration::seconds(1));
        assert!(ahead <= Duration::hours(48) + Duration::seconds(1));
    }
}
