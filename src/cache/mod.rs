//! The answer cache: upstream answers kept by keyed hash, each with its own freshness, kept on
//! past freshness for stale-if-error, weighed by size so memory (not an entry count) is what is
//! bounded. The in-process implementation is the default; the interface is small (`lookup`,
//! `store`, `invalidate`, `clear`) so a shared backend can take its place.
//!
//! Why quick_cache and not moka: at the target scale (a million verify answers in under
//! 600 MB) per-entry overhead decides. Measured with `benches/cache_memory` on 1M real-shaped
//! answers: moka 626 bytes per entry (594 without its TTL bookkeeping), quick_cache 340, of
//! which ~230 are the packed answer itself. moka's other strengths are not needed here: freshness is judged
//! against our own clock, and single-flight is `flight.rs`, which moka's loader could not give
//! (it restarts the load when the first caller goes away).

mod codec;
pub mod flight;
pub mod key;
pub mod status;
mod stored;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::clock::Clock;
use crate::metrics::Metrics;
use stored::Stored;

pub use flight::Flights;
pub use key::Keyer;
pub use status::CacheStatus;

/// What the cache's own bookkeeping and the allocator cost per entry beyond the stored bytes
/// (measured with `benches/cache_memory`); counted in the weight so `max_bytes` tracks real
/// memory.
const ENTRY_OVERHEAD: u64 = 100;
/// Recently invalidated keys remembered; a fill outliving this many later invalidations could
/// still store a stale answer, which fills (seconds) and invalidations (admin edits) make remote.
const TOMBSTONES: usize = 65_536;
/// `cleared` before the first clear.
const NEVER: u64 = u64::MAX;

/// Weighs entries by the bytes they hold.
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<u128, Stored> for ByBytes {
    fn weight(&self, _: &u128, v: &Stored) -> u64 {
        v.len() as u64 + ENTRY_OVERHEAD
    }
}

/// A stored (or storable) upstream answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Fresh, with this much freshness left.
    Fresh(Answer, Duration),
    /// Past freshness by this much, but within the stale-if-error window.
    Stale(Answer, Duration),
    Miss,
}

/// One named cache of answers.
#[derive(Clone)]
pub struct AnswerCache {
    name: &'static str,
    entries: Arc<quick_cache::sync::Cache<u128, Stored, ByBytes>>,
    /// When each recently invalidated key was invalidated (ns since `epoch`), so a fill that
    /// asked upstream before the invalidation cannot store its older answer after it.
    invalidated: Arc<quick_cache::sync::Cache<u128, u64>>,
    /// When the whole cache was last cleared (ns since `epoch`), or [`NEVER`].
    cleared: Arc<std::sync::atomic::AtomicU64>,
    epoch: Instant,
    stale_for: Duration,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl AnswerCache {
    /// A cache of at most `max_bytes`, whose entries may serve `stale_for` past freshness.
    pub fn new(
        name: &'static str,
        max_bytes: u64,
        stale_for: Duration,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Self {
        // The estimate sizes the hash table up front; a typical compressed answer weighs ~300.
        let estimated = usize::try_from(max_bytes / 300)
            .unwrap_or(usize::MAX)
            .max(64);
        let entries = Arc::new(quick_cache::sync::Cache::with_weighter(
            estimated, max_bytes, ByBytes,
        ));
        // Entries past freshness plus the stale window are treated as misses by `lookup` and
        // replaced by the next store; the byte bound evicts the rest (S3-FIFO), so no timer is
        // needed to reclaim them.
        Self {
            name,
            entries,
            invalidated: Arc::new(quick_cache::sync::Cache::new(TOMBSTONES)),
            cleared: Arc::new(std::sync::atomic::AtomicU64::new(NEVER)),
            epoch: clock.now(),
            stale_for,
            clock,
            metrics,
        }
    }

    pub fn lookup(&self, key: u128) -> Lookup {
        let Some(stored) = self.entries.get(&key) else {
            return Lookup::Miss;
        };
        let age = self.since_epoch().saturating_sub(stored.stored_at());
        let fresh_for = stored.fresh_for();
        if let Some(left) = fresh_for.checked_sub(age).filter(|d| !d.is_zero()) {
            return Lookup::Fresh(stored.answer(), left);
        }
        let past = age - fresh_for;
        if past <= self.stale_for {
            Lookup::Stale(stored.answer(), past)
        } else {
            Lookup::Miss
        }
    }

    /// The moment a fill asks upstream; pass it to [`AnswerCache::store`] with the answer.
    pub fn asked(&self) -> Duration {
        self.since_epoch()
    }

    /// Stores an answer to a question asked at `asked`, unless the key (or the whole cache) was
    /// invalidated since: then the answer may predate the change and is dropped.
    pub fn store(&self, key: u128, answer: &Answer, fresh_for: Duration, asked: Duration) {
        let asked = nanos(asked);
        let cleared = self.cleared.load(std::sync::atomic::Ordering::Acquire);
        let since = |at: u64| at != NEVER && at > asked;
        if self.invalidated.get(&key).is_some_and(since) || since(cleared) {
            return;
        }
        let stored = Stored::new(answer, self.since_epoch(), fresh_for);
        self.entries.insert(key, stored);
    }

    fn since_epoch(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.epoch)
    }

    pub fn invalidate(&self, key: u128) {
        self.invalidated.insert(key, nanos(self.since_epoch()));
        self.entries.remove(&key);
    }

    pub fn clear(&self) {
        self.cleared.store(
            nanos(self.since_epoch()),
            std::sync::atomic::Ordering::Release,
        );
        self.entries.clear();
    }

    /// Counts a lookup outcome.
    pub fn count(&self, status: CacheStatus) {
        self.metrics
            .cache_lookups
            .with_label_values(&[self.name, status.result()])
            .inc();
    }

    /// The weighed size of every entry (bodies plus the per-entry overhead estimate).
    pub fn weighed_bytes(&self) -> u64 {
        self.entries.weight()
    }

    /// Publishes entry count and weight to the metrics (called at scrape time).
    pub fn report(&self) {
        let count = i64::try_from(self.entries.len()).unwrap_or(i64::MAX);
        let bytes = i64::try_from(self.entries.weight()).unwrap_or(i64::MAX);
        self.metrics
            .cache_entries
            .with_label_values(&[self.name])
            .set(count);
        self.metrics
            .cache_bytes
            .with_label_values(&[self.name])
            .set(bytes);
    }
}

/// A duration in nanoseconds, saturating below [`NEVER`].
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(NEVER - 1)
        .min(NEVER - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(clock: &Clock) -> AnswerCache {
        AnswerCache::new(
            "verify",
            1 << 20,
            Duration::from_secs(3600),
            clock.clone(),
            Arc::new(Metrics::new()),
        )
    }

    fn answer(body: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: Some(HeaderValue::from_static("application/json; charset=utf-8")),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn entries_go_fresh_then_stale_then_away() {
        let clock = Clock::manual();
        let c = cache(&clock);
        c.store(1, &answer("{}"), Duration::from_secs(60), c.asked());
        assert!(matches!(c.lookup(1), Lookup::Fresh(_, left) if left == Duration::from_secs(60)));
        clock.advance(Duration::from_secs(61));
        assert!(matches!(c.lookup(1), Lookup::Stale(_, past) if past == Duration::from_secs(1)));
        clock.advance(Duration::from_secs(3600));
        assert!(matches!(c.lookup(1), Lookup::Miss));
    }

    #[test]
    fn bodies_come_back_byte_for_byte() {
        let c = cache(&Clock::manual());
        let body = format!(
            "{{\"success\":true,\"purchase\":{{\"x\":\"{}\"}}}}",
            "y".repeat(500)
        );
        c.store(2, &answer(&body), Duration::from_secs(60), c.asked());
        let Lookup::Fresh(a, _) = c.lookup(2) else {
            panic!()
        };
        assert_eq!(a.body, body.as_bytes());
        assert_eq!(a.content_type.unwrap(), "application/json; charset=utf-8");
        c.invalidate(2);
        assert!(matches!(c.lookup(2), Lookup::Miss));
    }

    #[test]
    fn an_answer_asked_before_an_invalidation_is_not_stored_after_it() {
        let clock = Clock::manual();
        let c = cache(&clock);
        let asked = c.asked();
        clock.advance(Duration::from_millis(5));
        c.invalidate(3);
        c.store(3, &answer("{\"old\":1}"), Duration::from_secs(60), asked);
        assert!(matches!(c.lookup(3), Lookup::Miss));
        clock.advance(Duration::from_millis(5));
        c.store(3, &answer("{}"), Duration::from_secs(60), c.asked());
        assert!(matches!(c.lookup(3), Lookup::Fresh(..)));
        // The same after clearing everything.
        let asked = c.asked();
        clock.advance(Duration::from_millis(5));
        c.clear();
        c.store(4, &answer("{}"), Duration::from_secs(60), asked);
        assert!(matches!(c.lookup(4), Lookup::Miss));
    }
}
