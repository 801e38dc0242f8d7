//! The heartbeat sweep: machines of products with heartbeats that were not seen (activate,
//! validate or heartbeat) by their deadline lose their seats, audited as `heartbeat_release`.
//! It runs before each reconciler round (`reconcile.interval`), so a seat is freed at most one
//! interval after its deadline. Each release is conditional in the store, so several replicas
//! sweeping one database release each machine once.
//!
//! Machines activated before heartbeats were on for their product (or before migration 0009)
//! have no deadline: [`backfill`], once per process, gives each one full window from then, so a
//! lost machine among them is released too, and none loses its seat the moment heartbeats are
//! switched on.

use crate::state::AppState;
use crate::store::StoreError;

/// Releases looked at per query.
const BATCH: i64 = 200;
/// Queries per sweep at most, so one sweep cannot run away; the next sweep takes the rest.
const MAX_BATCHES: usize = 50;

/// One sweep; returns how many machines it released.
pub async fn sweep(state: &AppState) -> Result<u32, StoreError> {
    let now = state.clock.unix_now();
    let mut released = 0;
    for _ in 0..MAX_BATCHES {
        let expired = state.store.expired_heartbeats(now, BATCH).await?;
        for e in &expired {
            // Heartbeats switched off for the product since the deadline was set: keep the seat.
            if !state.settings.policy_for(&e.product_id).heartbeats() {
                state.store.clear_heartbeat(&e.id).await?;
                continue;
            }
            if state.store.release_expired(e, now).await? {
                released += 1;
                state.metrics.heartbeat_releases.inc();
            }
        }
        if i64::try_from(expired.len()).unwrap_or(0) < BATCH {
            break;
        }
    }
    Ok(released)
}

/// Gives every live activation of a product with heartbeats that has no deadline one at now +
/// its window; returns how many got one.
pub async fn backfill(state: &AppState) -> Result<u64, StoreError> {
    let now = state.clock.unix_now();
    let at = |w: std::time::Duration| now.saturating_add(i64::try_from(w.as_secs()).unwrap_or(0));
    let products: Vec<String> = state.settings.products.keys().cloned().collect();
    let mut filled = 0;
    for product in &products {
        if let Some(window) = state.settings.policy_for(product).heartbeat_window() {
            filled += state
                .store
                .backfill_heartbeats(Some(product), &[], at(window))
                .await?;
        }
    }
    if let Some(window) = state.settings.policy.heartbeat_window() {
        filled += state
            .store
            .backfill_heartbeats(None, &products, at(window))
            .await?;
    }
    Ok(filled)
}
