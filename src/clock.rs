//! Time for cache freshness and activation decisions, injectable so tests can move it forward
//! instantly instead of sleeping through a TTL, a grace period or a day.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: the real one, or a manual one that only moves when told to.
#[derive(Clone, Debug)]
pub struct Clock {
    origin: Instant,
    /// Wall time at `origin`, for a manual clock's calendar time.
    wall_origin: time::OffsetDateTime,
    /// `None` for the real clock; nanoseconds since `origin` for a manual one.
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self {
            origin: Instant::now(),
            wall_origin: time::OffsetDateTime::now_utc(),
            manual: None,
        }
    }

    /// A clock that stands still until [`Clock::advance`] is called.
    pub fn manual() -> Self {
        Self {
            origin: Instant::now(),
            wall_origin: time::OffsetDateTime::now_utc(),
            manual: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(offset) => self.origin + Duration::from_nanos(offset.load(Ordering::Acquire)),
        }
    }

    /// Calendar time: the real one, or the manual clock's start plus what it was advanced.
    pub fn utc_now(&self) -> time::OffsetDateTime {
        match &self.manual {
            None => time::OffsetDateTime::now_utc(),
            Some(_) => self.wall_origin + (self.now() - self.origin),
        }
    }

    /// Calendar time in whole seconds since the Unix epoch.
    pub fn unix_now(&self) -> i64 {
        self.utc_now().unix_timestamp()
    }

    /// Moves a manual clock forward (no effect on the real one).
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.manual {
            let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            offset.fetch_add(nanos, Ordering::AcqRel);
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}
