//! The heartbeat sweep: machines of products with heartbeats that were not seen (activate,
//! validate or heartbeat) by their deadline lose their seats, audited as `heartbeat_release`.
//! It runs before each reconciler round (`reconcile.interval`), so a seat is freed at most one
//! interval after its deadline; a gateway just started waits one grace ([`settle_time`]) before
//! its first release, so machines that could not beat while it was down beat first. Each release is conditional in the store, so several replicas
//! sweeping one database release each machine once.
//!
//! Machines activated before heartbeats were on for their product (or before migration 0009)
//! have no deadline: [`backfill`], once per process, gives each one full window from then, so a
//! lost machine among them is released too, and none loses its seat the moment heartbeats are
//! switched on.

use super::grant::deadline;
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
    let products: Vec<String> = state.settings.products.keys().cloned().collect();
    let mut filled = 0;
    for product in &products {
        let policy = state.settings.policy_for(product);
        if let Some(deadline) = deadline(&policy, now) {
            filled += state
                .store
                .backfill_heartbeats(Some(product), &[], deadline)
                .await?;
        }
    }
    if let Some(deadline) = deadline(&state.settings.policy, now) {
        filled += state
            .store
            .backfill_heartbeats(None, &products, deadline)
            .await?;
    }
    Ok(filled)
}

/// How long a gateway waits after start before its first release: the longest heartbeat grace
/// of any product, so that machines which could not reach it while it was down get to beat.
pub fn settle_time(settings: &crate::config::Settings) -> std::time::Duration {
    settings
        .policies()
        .filter(|p| p.heartbeats())
        .map(|p| p.heartbeat_grace)
        .max()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Settings;

    #[test]
    fn a_new_gateway_settles_for_the_longest_grace_of_a_product_with_heartbeats() {
        let none = Settings::load_from(None, std::iter::empty()).unwrap();
        assert_eq!(
            super::settle_time(&none),
            Duration::ZERO,
            "heartbeats off: no wait"
        );
        let env = [
            ("GUMGATE__POLICY__HEARTBEAT_INTERVAL", "1h"),
            ("GUMGATE__POLICY__HEARTBEAT_GRACE", "15m"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let on = Settings::load_from(None, env).unwrap();
        assert_eq!(super::settle_time(&on), Duration::from_secs(900));
    }
}
