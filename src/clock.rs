//! Time for cache freshness decisions, injectable so tests can move it forward instantly
//! instead of sleeping through a TTL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: the real one, or a manual one that only moves when told to.
#[derive(Clone, Debug)]
pub struct Clock {
    origin: Instant,
    /// `None` for the real clock; nanoseconds since `origin` for a manual one.
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self {
            origin: Instant::now(),
            manual: None,
        }
    }

    /// A clock that stands still until [`Clock::advance`] is called.
    pub fn manual() -> Self {
        Self {
            origin: Instant::now(),
            manual: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(offset) => self.origin + Duration::from_nanos(offset.load(Ordering::Acquire)),
        }
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
