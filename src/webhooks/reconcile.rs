//! The reconciler: pings get lost (Gumroad never retries on connection errors) and disables,
//! rotations and dashboard edits send none, so licenses holding activations are re-checked
//! upstream once their last check is older than `reconcile.max_age`. It spends only spare
//! budget (background priority: never a slot an app-facing call waits for) and does nothing
//! while upstream is paused or the breaker is open.

use tokio_util::sync::CancellationToken;

use super::process::resolve_sale;
use crate::activation::{self, decision::Code};
use crate::budget::{CircuitState, Priority};
use crate::state::AppState;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub checked: u32,
    pub changed: u32,
}

/// Runs rounds every `reconcile.interval` until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let interval = state
        .settings
        .reconcile
        .interval
        .max(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match run_once(&state).await {
            Ok(r) if r.checked > 0 => {
                tracing::info!(checked = r.checked, changed = r.changed, "reconciled")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciliation round failed"),
        }
    }
}

/// One round: the longest-unchecked licenses first, stopping at the first sign that no spare
/// budget is left.
pub async fn run_once(state: &AppState) -> Result<Round, crate::store::StoreError> {
    let mut round = Round::default();
    let budget = state.upstream.budget();
    if budget.paused_for().is_some() || budget.circuit() == CircuitState::Open {
        return Ok(round);
    }
    let now = state.caches.clock.unix_now();
    let max_age = i64::try_from(state.settings.reconcile.max_age.as_secs()).unwrap_or(i64::MAX);
    let batch = i64::from(state.settings.reconcile.batch);
    for due in state
        .store
        .licenses_due(now.saturating_sub(max_age), batch)
        .await?
    {
        // No budget for the lookup (busy with app calls, paused): try again next round.
        let (product, key) = match resolve_sale(state, &due.sale_id).await {
            Ok(Some(found)) => found,
            // A definite answer with no license (the sale is unknown to this connection, or
            // carries no key): skip it until its next turn rather than block everyone behind it.
            Ok(None) => {
                tracing::warn!("reconciler: a license's sale could not be resolved; skipped");
                state.store.touch_license(&due.license_hash, now).await?;
                continue;
            }
            // No budget for the lookup (busy with app calls, paused): try again next round.
            Err(_) => break,
        };
        let code = if crate::hashes::license_hash(&key) == due.license_hash {
            let license =
                activation::check_license_at(state, &product, &key, Priority::Background, true)
                    .await;
            license.decision.code
        } else {
            // The sale now carries another key: this one was rotated away, and Gumroad answers
            // 404 for it. Its machines hold a key that no longer exists.
            Code::NotFound
        };
        if code == Code::UpstreamUnavailable {
            break;
        }
        // Only a successful re-check drops the cached entries (a failed one keeps stale-if-error).
        crate::licenses::invalidate(state, &product, &key);
        for a in state.store.list(&due.license_hash).await? {
            if a.last_code.as_deref() != Some(code.as_str()) {
                round.changed += 1;
                state
                    .metrics
                    .reconcile_changed
                    .with_label_values(&[code.as_str()])
                    .inc();
            }
            state
                .store
                .record_decision(&a.id, code.as_str(), code == Code::Valid, now)
                .await?;
        }
        state.store.touch_license(&due.license_hash, now).await?;
        state.metrics.reconcile_checks.inc();
        round.checked += 1;
    }
    Ok(round)
}
