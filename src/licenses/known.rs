//! The budget reserve for known licenses (`upstream.known_share`). Random keys from many client
//! IPs once spent the whole upstream budget, so paying users' first verifies after a cache
//! expiry got 503. Now a public call for a license Gumroad never vouched for (no 200 yet, no
//! active activation) passes a gate of its own first, at `rate_limit x (1 - known_share)`
//! calls a second: whatever first-time keys do, the rest of the budget stays for licenses that
//! answered 200 before, existing activations, admin calls and ping re-checks. A first-time
//! call waits for room in its share at most `upstream.max_wait`, like any call for budget, so
//! first-time users are only slowed down when first-time traffic is heavy.
//!
//! Known licenses are kept by `license_hash` (never the key) in memory and in the store, so the
//! reserve survives a restart.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use governor::{Quota, RateLimiter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::budget::Priority;
use crate::cluster::SharedBudget;
use crate::config::UpstreamSettings;
use crate::hashes::license_hash;
use crate::metrics::Metrics;
use crate::read_through::Gate;
use crate::state::AppState;
use crate::upstream::UpstreamError;

/// Newly known licenses waiting to be written; past this, a write is dropped (the license stays
/// known in memory, only a restart forgets it). A flood of first-time valid keys then costs
/// bounded memory, where one spawned write each once piled up faster than SQLite committed.
const PENDING_WRITES: usize = 4096;
/// Newly known licenses written in one transaction, at most.
const WRITE_BATCH: usize = 512;

/// The licenses Gumroad vouched for, and the gate first-time keys pass.
pub struct KnownLicenses {
    /// The first 128 bits of each `license_hash`: 16 bytes in the table instead of a 64-byte
    /// string on the heap (a million known licenses take ~40 MB less). Two licenses sharing
    /// them would only let the second skip the first-time gate.
    hashes: RwLock<HashSet<u128>>,
    /// `None` when `known_share` is 0: nothing reserved.
    first_time: Option<Gate>,
    /// To [`write_known`], which the application runs.
    writes: mpsc::Sender<String>,
    unwritten: std::sync::Mutex<Option<mpsc::Receiver<String>>>,
}

impl KnownLicenses {
    /// `hashes`: what the store remembers (`Store::known_licenses`).
    /// `shared`: cluster mode's first-time share, booked in Redis for every replica together
    /// (`SharedBudget::first_time`) instead of this replica's own limiter.
    pub fn new(
        hashes: Vec<String>,
        upstream: &UpstreamSettings,
        metrics: Arc<Metrics>,
        shared: Option<Arc<SharedBudget>>,
    ) -> Self {
        let first_time = (upstream.known_share > 0.0).then(|| Gate {
            limiter: Arc::new(RateLimiter::direct(first_time_quota(upstream))),
            max_wait: upstream.max_wait,
            metrics,
            shared,
        });
        let (writes, unwritten) = mpsc::channel(PENDING_WRITES);
        Self {
            hashes: RwLock::new(hashes.iter().filter_map(|h| short(h)).collect()),
            first_time,
            writes,
            unwritten: std::sync::Mutex::new(Some(unwritten)),
        }
    }

    /// The gate a call for `key` at `priority` must pass: `None` for a known license, and for
    /// anything but public calls (admin calls are the operator's; background re-checks are
    /// for licenses with activations, which the reserve is for).
    pub fn gate(&self, key: &str, priority: Priority) -> Option<Gate> {
        let gate = self.first_time.as_ref()?;
        if priority != Priority::Public || self.is_known(&license_hash(key)) {
            return None;
        }
        Some(gate.clone())
    }

    /// For a public call about `key` that goes upstream on its own (not through a cache fill,
    /// which asks its gate itself): waits for room if the license is a first-time one.
    pub async fn admit(&self, key: &str) -> Result<(), UpstreamError> {
        match self.gate(key, Priority::Public) {
            Some(gate) => gate.pass().await,
            None => Ok(()),
        }
    }

    fn is_known(&self, hash: &str) -> bool {
        short(hash).is_some_and(|short| self.knows(short))
    }

    fn knows(&self, short: u128) -> bool {
        self.hashes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&short)
    }
}

/// Remembers that Gumroad vouched for `key` (a 200 with a purchase): in memory at once, in the
/// store in the background.
pub fn learn(state: &AppState, key: &str) {
    let hash = license_hash(key);
    let Some(short) = short(&hash) else {
        return;
    };
    if state.known.knows(short) {
        return;
    }
    let inserted = state
        .known
        .hashes
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(short);
    if !inserted {
        return;
    }
    if state.known.writes.try_send(hash).is_err() {
        tracing::debug!("a known license was not queued for writing: the queue is full");
    }
}

/// Writes newly known licenses to the store, in batches, until `stop`; then writes what is
/// still queued. Runs once per process (a second call returns at once).
pub async fn write_known(state: AppState, stop: CancellationToken) {
    let taken = state
        .known
        .unwritten
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(mut queue) = taken else {
        return;
    };
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let stopping = tokio::select! {
            n = queue.recv_many(&mut batch, WRITE_BATCH) => n == 0,
            () = stop.cancelled() => true,
        };
        if stopping {
            while let Ok(hash) = queue.try_recv() {
                batch.push(hash);
            }
        }
        for chunk in batch.chunks(WRITE_BATCH) {
            let now = state.clock.unix_now();
            if let Err(e) = state.store.remember_known(chunk, now).await {
                tracing::warn!(error = %e, count = chunk.len(), "known licenses could not be remembered");
            }
        }
        batch.clear();
        if stopping {
            return;
        }
    }
}

/// The in-memory form of a `license_hash` (64 hex digits): its first 128 bits.
fn short(hash: &str) -> Option<u128> {
    u128::from_str_radix(hash.get(..32)?, 16).ok()
}

/// `rate_limit x (1 - known_share)` calls a second for first-time keys, at least one.
fn first_time_quota(upstream: &UpstreamSettings) -> Quota {
    let share = upstream.known_share.clamp(0.0, 1.0);
    let rate = (f64::from(upstream.rate_limit) * (1.0 - share)).floor() as u32;
    Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
}
