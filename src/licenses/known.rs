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

use crate::budget::Priority;
use crate::config::UpstreamSettings;
use crate::hashes::license_hash;
use crate::metrics::Metrics;
use crate::read_through::Gate;
use crate::state::AppState;
use crate::upstream::UpstreamError;

/// The licenses Gumroad vouched for, and the gate first-time keys pass.
pub struct KnownLicenses {
    hashes: RwLock<HashSet<String>>,
    /// `None` when `known_share` is 0: nothing reserved.
    first_time: Option<Gate>,
}

impl KnownLicenses {
    /// `hashes`: what the store remembers (`Store::known_licenses`).
    pub fn new(hashes: Vec<String>, upstream: &UpstreamSettings, metrics: Arc<Metrics>) -> Self {
        let first_time = (upstream.known_share > 0.0).then(|| Gate {
            limiter: Arc::new(RateLimiter::direct(first_time_quota(upstream))),
            max_wait: upstream.max_wait,
            metrics,
        });
        Self {
            hashes: RwLock::new(hashes.into_iter().collect()),
            first_time,
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
        self.hashes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(hash)
    }
}

/// Remembers that Gumroad vouched for `key` (a 200 with a purchase): in memory at once, in the
/// store in the background.
pub fn learn(state: &AppState, key: &str) {
    let hash = license_hash(key);
    if state.known.is_known(&hash) {
        return;
    }
    let inserted = state
        .known
        .hashes
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(hash.clone());
    if !inserted {
        return;
    }
    let (store, now) = (state.store.clone(), state.clock.unix_now());
    state.tasks.spawn(async move {
        if let Err(e) = store.remember_known(&hash, now).await {
            tracing::warn!(error = %e, "a known license could not be remembered");
        }
    });
}

/// `rate_limit x (1 - known_share)` calls a second for first-time keys, at least one.
fn first_time_quota(upstream: &UpstreamSettings) -> Quota {
    let share = upstream.known_share.clamp(0.0, 1.0);
    let rate = (f64::from(upstream.rate_limit) * (1.0 - share)).floor() as u32;
    Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
}
