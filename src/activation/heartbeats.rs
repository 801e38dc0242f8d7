//! The heartbeat sweep: machines of products with heartbeats that were not seen (activate,
//! validate or heartbeat) by their deadline lose their seats, audited as `heartbeat_release`.
//! It runs before each reconciler round (`reconcile.interval`), so a seat is freed at most one
//! interval after its deadline. Each release is conditional in the store, so several replicas
//! sweeping one database release each machine once.

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
