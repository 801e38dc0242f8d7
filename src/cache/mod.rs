//! The answer cache: upstream answers kept by keyed hash, each with its own freshness, kept on
//! past freshness for stale-if-error, weighed by size so memory (not an entry count) is what is
//! bounded. The in-process implementation is the default; the interface is small (`lookup`,
//! `store`, `invalidate`, `clear`) so a shared backend can take its place.
//!
//! The store is moka (`moka::sync::Cache`), and moka does what it is made for:
//! - **the bound**: a weigher counts each entry's packed bytes plus moka's own per-entry
//!   structure and the allocator's share ([`ENTRY_OVERHEAD`]), so `cache.max_bytes` is close to
//!   what a full cache holds resident (`benches/cache_memory --bound`);
//! - **admission and eviction**: TinyLFU, so a flood of one-off keys (license-key guessing,
//!   a scan) does not push out the answers asked for again and again;
//! - **reclaiming**: an entry expires by itself at its stale-if-error horizon (freshness plus
//!   the stale window). That expiry only frees memory: whether an entry is fresh, stale or dead
//!   is judged by [`AnswerCache::lookup`] against Gumgate's own clock, which tests drive, and
//!   moka's clock is its own;
//! - **metrics**: an eviction listener counts entries leaving for room or by expiry.
//!
//! It costs memory: moka's structure and the allocator take ~340 bytes an entry with per-entry
//! expiry (the packed answer ~230 more), against ~60 for the quick_cache this replaced. With the
//! binary's allocator (mimalloc) a million cached verify answers take 569 resident bytes each
//! here (`benches/cache_memory`) and 652 in the whole server filled over HTTP
//! (`bench/verify.sh`; README "Performance"). Hot answers are also kept decoded, within the
//! same bound ([`DECODED_SHARE`]). Single-flight stays `flight.rs` (its module doc says why).

mod codec;
pub mod flight;
pub mod key;
pub mod status;
mod stored;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use moka::notification::RemovalCause;
use moka::policy::{EvictionPolicy, Expiry};
use prometheus::IntCounter;

use crate::clock::Clock;
use crate::metrics::Metrics;
use stored::Stored;

pub use flight::Flights;
pub use key::Keyer;
pub use status::CacheStatus;

/// What an entry costs beyond its packed bytes: moka's per-entry structure (its hash table
/// slot, access-order and write-order nodes, the expiry timer wheel node, the frequency
/// sketch's share) and the allocator's overhead on the packed `Arc<[u8]>`. Measured with
/// `benches/cache_memory` under mimalloc (569 resident bytes an entry, 232 of them packed);
/// counted in the weight so a full cache's resident size stays within 10% of
/// `cache.max_bytes` (`--bound 256`: 0.96 of the bound).
pub const ENTRY_OVERHEAD: u64 = 340;
/// The share of `cache.max_bytes` kept for decoded copies of the hottest compressed answers
/// (1/16), at most [`MAX_DECODED`]: a hit on one of them skips zstd, the largest part of a
/// hit's cost (bench/callgrind.sh).
const DECODED_SHARE: u64 = 16;
const MAX_DECODED: u64 = 16 << 20;
/// Recently invalidated keys remembered; a fill outliving this many later invalidations could
/// still store a stale answer, which fills (seconds) and invalidations (admin edits) make remote.
const TOMBSTONES: u64 = 65_536;
/// How long a tombstone is kept: far longer than any fill can take (upstream timeout plus the
/// budget's wait), after which it only takes room.
const TOMBSTONE_TTL: Duration = Duration::from_secs(3600);
/// `cleared` before the first clear.
const NEVER: u64 = u64::MAX;

/// An entry's weight: its packed bytes plus [`ENTRY_OVERHEAD`].
fn weigh(_: &u128, v: &Stored) -> u32 {
    u32::try_from(v.len() as u64 + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// A decoded copy's weight: the decoded body, the packed entry it keeps alive, the overhead.
fn weigh_decoded(_: &u128, (from, answer): &(Stored, Answer)) -> u32 {
    u32::try_from((answer.body.len() + from.len()) as u64 + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// Each entry expires (for memory only) at its stale-if-error horizon, counted from its store;
/// a replacing store restarts it.
struct Horizon {
    stale_for: Duration,
}

impl Horizon {
    fn of(&self, v: &Stored) -> Option<Duration> {
        Some(v.fresh_for().saturating_add(self.stale_for))
    }
}

impl Expiry<u128, Stored> for Horizon {
    fn expire_after_create(&self, _: &u128, v: &Stored, _: Instant) -> Option<Duration> {
        self.of(v)
    }

    fn expire_after_update(
        &self,
        _: &u128,
        v: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.of(v)
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
    entries: moka::sync::Cache<u128, Stored>,
    /// Decoded copies of hot compressed answers, each with the very entry it was decoded from:
    /// used only while that entry is still the one stored ([`Stored::is`]), so a replaced or
    /// invalidated answer is never served from here. TinyLFU picks which answers are hot.
    decoded: moka::sync::Cache<u128, (Stored, Answer)>,
    /// When each recently invalidated key was invalidated (ns since `epoch`), so a fill that
    /// asked upstream before the invalidation cannot store its older answer after it.
    invalidated: moka::sync::Cache<u128, u64>,
    /// When the whole cache was last cleared (ns since `epoch`), or [`NEVER`].
    cleared: Arc<std::sync::atomic::AtomicU64>,
    /// Entries stored before this (ns since `epoch`; 0: none) are stale whatever their age
    /// ([`AnswerCache::mark_stale`]).
    stale_before: Arc<std::sync::atomic::AtomicU64>,
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
        // The counters resolved once: the listener runs on every eviction.
        let evicted =
            |cause| -> IntCounter { metrics.cache_evictions.with_label_values(&[name, cause]) };
        let (by_size, by_expiry) = (evicted("size"), evicted("expired"));
        let decoded_bytes = (max_bytes / DECODED_SHARE).min(MAX_DECODED);
        let decoded = moka::sync::Cache::builder()
            .max_capacity(decoded_bytes)
            .weigher(weigh_decoded)
            .time_to_idle(Duration::from_secs(60))
            .build();
        let entries = moka::sync::Cache::builder()
            .name(name)
            .max_capacity(max_bytes - decoded_bytes)
            .weigher(weigh)
            .expire_after(Horizon { stale_for })
            // TinyLFU is moka's default; named because the scan resistance is relied on
            // (`tests::one_off_keys_do_not_push_out_hot_ones`).
            .eviction_policy(EvictionPolicy::tiny_lfu())
            .eviction_listener(move |_, _, cause| match cause {
                RemovalCause::Size => by_size.inc(),
                RemovalCause::Expired => by_expiry.inc(),
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            })
            .build();
        // Plain LRU for tombstones: TinyLFU could refuse to admit a new tombstone (seen once)
        // in favour of an old one, and a refused tombstone lets a stale fill be stored.
        let invalidated = moka::sync::Cache::builder()
            .max_capacity(TOMBSTONES)
            .time_to_live(TOMBSTONE_TTL)
            .eviction_policy(EvictionPolicy::lru())
            .build();
        Self {
            name,
            entries,
            decoded,
            invalidated,
            cleared: Arc::new(std::sync::atomic::AtomicU64::new(NEVER)),
            stale_before: Arc::new(std::sync::atomic::AtomicU64::new(0)),
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
        let stale_before = self.stale_before.load(std::sync::atomic::Ordering::Relaxed);
        let fresh_for = if nanos(stored.stored_at()) < stale_before {
            Duration::ZERO
        } else {
            stored.fresh_for()
        };
        if let Some(left) = fresh_for.checked_sub(age).filter(|d| !d.is_zero()) {
            return Lookup::Fresh(self.decode(key, &stored), left);
        }
        let past = age - fresh_for;
        if past <= self.stale_for {
            Lookup::Stale(self.decode(key, &stored), past)
        } else {
            Lookup::Miss
        }
    }

    /// The answer `stored` holds, from the decoded copies when this very entry was decoded
    /// before.
    fn decode(&self, key: u128, stored: &Stored) -> Answer {
        if let Some((from, answer)) = self.decoded.get(&key)
            && from.is(stored)
        {
            return answer;
        }
        let answer = stored.answer();
        if stored.is_compressed() {
            self.decoded.insert(key, (stored.clone(), answer.clone()));
        }
        answer
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
        self.entries.invalidate(&key);
        self.decoded.invalidate(&key);
    }

    /// Whether `key` (or the whole cache) was invalidated within the last `window`: an answer
    /// from elsewhere (cluster mode's shared answers) may predate that invalidation until it
    /// has reached everyone, so a fill then asks upstream itself.
    pub fn invalidated_within(&self, key: u128, window: Duration) -> bool {
        let now = nanos(self.since_epoch());
        let recent = |at: u64| at != NEVER && now.saturating_sub(at) < nanos(window);
        self.invalidated.get(&key).is_some_and(recent)
            || recent(self.cleared.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Makes every answer stored so far stale (still there for stale-if-error, no longer
    /// fresh), and refuses the fills asked before now: what a replica does when it may have
    /// missed invalidations from the others (cluster mode, after losing Redis).
    pub fn mark_stale(&self) {
        let now = nanos(self.since_epoch());
        self.stale_before
            .store(now, std::sync::atomic::Ordering::Relaxed);
        self.cleared
            .store(now, std::sync::atomic::Ordering::Release);
    }

    pub fn clear(&self) {
        self.cleared.store(
            nanos(self.since_epoch()),
            std::sync::atomic::Ordering::Release,
        );
        self.entries.invalidate_all();
        self.decoded.invalidate_all();
    }

    /// Counts a lookup outcome.
    pub fn count(&self, status: CacheStatus) {
        self.metrics
            .cache_lookups
            .with_label_values(&[self.name, status.result()])
            .inc();
    }

    /// The weighed size of every entry (packed bytes plus [`ENTRY_OVERHEAD`] each), once
    /// moka's pending bookkeeping has run.
    pub fn weighed_bytes(&self) -> u64 {
        self.run_pending_tasks();
        self.entries.weighted_size() + self.decoded.weighted_size()
    }

    /// Entries held, once moka's pending bookkeeping has run.
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// Runs moka's pending bookkeeping (admissions, evictions, expiries) now; moka otherwise
    /// does it in batches on later calls.
    pub fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks();
        self.decoded.run_pending_tasks();
    }

    /// Publishes entry count and weight to the metrics (called at scrape time).
    pub fn report(&self) {
        let bytes = i64::try_from(self.weighed_bytes()).unwrap_or(i64::MAX);
        let count = i64::try_from(self.entries.entry_count()).unwrap_or(i64::MAX);
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

    #[test]
    fn marked_stale_entries_serve_only_as_stale_and_older_fills_are_refused() {
        let clock = Clock::manual();
        let c = cache(&clock);
        c.store(5, &answer("{}"), Duration::from_secs(60), c.asked());
        let asked = c.asked();
        clock.advance(Duration::from_millis(5));
        c.mark_stale();
        assert!(
            matches!(c.lookup(5), Lookup::Stale(..)),
            "kept, for stale-if-error"
        );
        c.store(6, &answer("{}"), Duration::from_secs(60), asked);
        assert!(matches!(c.lookup(6), Lookup::Miss), "asked before the mark");
        clock.advance(Duration::from_millis(5));
        c.store(5, &answer("{}"), Duration::from_secs(60), c.asked());
        assert!(
            matches!(c.lookup(5), Lookup::Fresh(..)),
            "refilled after it"
        );
    }

    #[test]
    fn recent_invalidations_are_known_for_their_window() {
        let clock = Clock::manual();
        let c = cache(&clock);
        let window = Duration::from_secs(60);
        assert!(!c.invalidated_within(7, window));
        c.invalidate(7);
        assert!(c.invalidated_within(7, window) && !c.invalidated_within(8, window));
        clock.advance(Duration::from_secs(61));
        assert!(!c.invalidated_within(7, window));
        c.clear();
        assert!(
            c.invalidated_within(8, window),
            "a purge counts for every key"
        );
    }

    /// A hit ratio under a scan: moka's TinyLFU keeps hot answers while one-off keys (key
    /// guessing, a crawler) pass through. Bounded to 2,000 answers, 100,000 one-off keys
    /// interleaved 1:1 with requests spread uniformly over 1,000 hot keys, each miss filled as
    /// the read-through does; after the first 10,000 requests the hot keys hit >= 95%.
    #[test]
    fn one_off_keys_do_not_push_out_hot_ones() {
        let clock = Clock::manual();
        let body = format!(
            "{{\"success\":true,\"purchase\":{{\"email\":\"{}\"}}}}",
            "a".repeat(200)
        );
        let one = answer(&body);
        let probe = cache(&clock);
        probe.store(0, &one, Duration::from_secs(3600), probe.asked());
        let weight = probe.weighed_bytes();
        let c = AnswerCache::new(
            "verify",
            2_000 * weight,
            Duration::from_secs(3600),
            clock.clone(),
            Arc::new(Metrics::new()),
        );
        // A fixed-seed generator: the same sequence every run.
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (mut hot_requests, mut hot_hits) = (0u32, 0u32);
        let visit = |key: u128| {
            let hit = matches!(c.lookup(key), Lookup::Fresh(..));
            if !hit {
                c.store(key, &one, Duration::from_secs(3600), c.asked());
            }
            hit
        };
        for i in 0..100_000u64 {
            let requests_so_far = 2 * i;
            // A one-off key, never asked again (above the hot range).
            visit(u128::from(1_000_000 + i));
            let hot = u128::from(next() % 1_000);
            let hit = visit(hot);
            if requests_so_far >= 10_000 {
                hot_requests += 1;
                hot_hits += u32::from(hit);
            }
            if i % 64 == 0 {
                c.run_pending_tasks();
            }
        }
        let ratio = f64::from(hot_hits) / f64::from(hot_requests);
        assert!(ratio >= 0.95, "hot keys hit {ratio:.3} of {hot_requests}");
        assert!(c.weighed_bytes() <= 2_000 * weight);
    }

    /// moka reclaims an entry at its stale-if-error horizon by itself, on its own (real) clock,
    /// and the eviction listener counts it. The horizon here is about a second.
    #[test]
    fn entries_past_the_horizon_leave_by_themselves_and_are_counted() {
        let metrics = Arc::new(Metrics::new());
        let c = AnswerCache::new(
            "sales",
            1 << 20,
            Duration::from_millis(700),
            Clock::system(),
            metrics.clone(),
        );
        c.store(1, &answer("{}"), Duration::from_millis(300), c.asked());
        assert_eq!(c.entry_count(), 1);
        std::thread::sleep(Duration::from_millis(1_300));
        assert_eq!(c.entry_count(), 0);
        let expired = metrics
            .cache_evictions
            .with_label_values(&["sales", "expired"]);
        assert_eq!(expired.get(), 1);
    }

    /// The weight is the packed bytes plus the documented per-entry overhead, so the byte
    /// bound is what `cache.max_bytes` says; a bound too small for more evicts for room.
    #[test]
    fn the_weight_counts_the_overhead_and_the_bound_evicts() {
        let metrics = Arc::new(Metrics::new());
        let one = answer(&"x".repeat(1000));
        let weight =
            Stored::new(&one, Duration::ZERO, Duration::from_secs(1)).len() as u64 + ENTRY_OVERHEAD;
        let roomy = cache(&Clock::manual());
        for key in 0..10 {
            roomy.store(key, &one, Duration::from_secs(60), roomy.asked());
        }
        assert_eq!(roomy.weighed_bytes(), 10 * weight);
        let bound = 10 * weight;
        let c = AnswerCache::new(
            "verify",
            bound,
            Duration::from_secs(60),
            Clock::manual(),
            metrics.clone(),
        );
        for key in 0..40 {
            // Asked twice, so TinyLFU admits later keys over earlier ones.
            for _ in 0..2 {
                if matches!(c.lookup(key), Lookup::Miss) {
                    c.store(key, &one, Duration::from_secs(60), c.asked());
                }
            }
        }
        assert!(
            c.weighed_bytes() <= bound,
            "{} > {bound}",
            c.weighed_bytes()
        );
        let by_size = metrics
            .cache_evictions
            .with_label_values(&["verify", "size"]);
        assert!(by_size.get() > 0);
    }

    /// A hot answer is served from its decoded copy only while it is still the stored one.
    #[test]
    fn decoded_copies_never_outlive_their_answer() {
        let clock = Clock::manual();
        let c = cache(&clock);
        let old = format!("{{\"success\":true,\"v\":\"{}\"}}", "old".repeat(100));
        let new = format!("{{\"success\":true,\"v\":\"{}\"}}", "new".repeat(100));
        let body = |l: Lookup| match l {
            Lookup::Fresh(a, _) | Lookup::Stale(a, _) => a.body,
            Lookup::Miss => panic!("a miss"),
        };
        c.store(1, &answer(&old), Duration::from_secs(60), c.asked());
        for _ in 0..3 {
            assert_eq!(body(c.lookup(1)), old.as_bytes());
        }
        c.run_pending_tasks();
        assert!(
            c.decoded.contains_key(&1),
            "a compressed hit is kept decoded"
        );
        c.store(1, &answer(&new), Duration::from_secs(60), c.asked());
        assert_eq!(body(c.lookup(1)), new.as_bytes());
        c.invalidate(1);
        assert!(matches!(c.lookup(1), Lookup::Miss));
        c.store(1, &answer(&old), Duration::from_secs(60), c.asked());
        assert_eq!(body(c.lookup(1)), old.as_bytes());
        c.clear();
        assert!(matches!(c.lookup(1), Lookup::Miss));
    }
}
