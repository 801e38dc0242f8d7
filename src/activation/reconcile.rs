//! The reconciler: pings get lost (Gumroad never retries on connection errors) and disables,
//! rotations and dashboard edits send none, so licenses holding activations are re-checked
//! upstream once their last check is older than `reconcile.max_age`. It spends only spare
//! budget (background priority: never a slot an app-facing call waits for) and does nothing
//! while upstream is paused or the breaker is open.
//!
//! After the receiver refused pings (a full inbox, `webhooks.max_pending`), a refused refund
//! may never come back (Gumroad retries a 5xx only a few times), so once the inbox is back
//! under the cap every license holding activations is made due at once, whatever its last
//! check: the following rounds, a batch each, re-check them all once.

use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::heartbeats;
use crate::budget::CircuitState;
use crate::decision::{self, Cause, Code, RecheckError, Redecided};
use crate::hashes::license_hash;
use crate::state::AppState;
use crate::store::StoreError;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub checked: u32,
    pub changed: u32,
}

/// Runs rounds every `reconcile.interval` until `stop`, each after a heartbeat sweep (which needs
/// no upstream, so it runs even while upstream is paused).
pub async fn run(state: AppState, stop: CancellationToken) {
    let interval = state
        .settings
        .reconcile
        .interval
        .max(std::time::Duration::from_secs(1));
    let mut backfilled = false;
    let started = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if !backfilled {
            match heartbeats::backfill(&state).await {
                Ok(n) => {
                    backfilled = true;
                    if n > 0 {
                        tracing::info!(
                            machines = n,
                            "heartbeat deadlines given to machines that had none"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat backfill failed; retried next round")
                }
            }
        }
        // Machines that could not beat while this gateway was down (an upgrade, an outage) beat
        // again first: no release before one grace has passed since start.
        if started.elapsed() >= heartbeats::settle_time(&state.settings) {
            match heartbeats::sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "machines released for missed heartbeats"),
                Err(e) => tracing::warn!(error = %e, "heartbeat sweep failed"),
            }
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
pub async fn run_once(state: &AppState) -> Result<Round, StoreError> {
    let mut round = Round::default();
    let budget = state.upstream.budget();
    if budget.paused_for().is_some() || budget.circuit() == CircuitState::Open {
        return Ok(round);
    }
    let now = state.clock.unix_now();
    let max_age = i64::try_from(state.settings.reconcile.max_age.as_secs()).unwrap_or(i64::MAX);
    let due_before = now.saturating_sub(max_age);
    sweep_after_refusals(state, due_before).await?;
    let batch = i64::from(state.settings.reconcile.batch);
    let claimed = state.store.licenses_due(now, due_before, batch).await?;
    for (i, due) in claimed.iter().enumerate() {
        let (product, key) = match decision::license_of_sale(state, &due.sale_id).await {
            Ok(Some(found)) => found,
            // A definite answer with no license (the sale is unknown to this connection, or
            // carries no key): skip it until its next turn rather than block everyone behind it.
            Ok(None) => {
                tracing::warn!("reconciler: a license's sale could not be resolved; skipped");
                state.store.touch_license(&due.license_hash, now).await?;
                continue;
            }
            // No budget for the lookup (busy with app calls, paused): try again next round.
            Err(_) => return release(state, &claimed[i..], round).await,
        };
        let redecided = if license_hash(&key) == due.license_hash {
            match decision::redecide(state, &product, &key, Cause::Reconcile).await {
                Ok(r) => r,
                Err(RecheckError::Unavailable) => {
                    return release(state, &claimed[i..], round).await;
                }
                Err(RecheckError::Store(e)) => return Err(e),
            }
        } else {
            // The sale now carries another key: this one was rotated away, and Gumroad answers
            // 404 for it. Its machines hold a key that no longer exists.
            decision::record(state, &due.license_hash, Code::NotFound, Cause::Reconcile).await?
        };
        count(state, &redecided, &mut round);
    }
    Ok(round)
}

/// Hands back the claimed licenses a round did not get to, so any gateway's next round takes
/// them rather than waiting out the claims.
async fn release(
    state: &AppState,
    left: &[crate::store::LicenseRef],
    round: Round,
) -> Result<Round, StoreError> {
    for due in left {
        state.store.release_license(&due.license_hash).await?;
    }
    Ok(round)
}

/// Takes the receiver's "pings were refused" flag once the inbox is back under its cap, and
/// makes every license due (see the module doc). While the inbox is still full the flag waits:
/// a sweep now would compete with the backlog for spare budget, and more refusals may follow.
async fn sweep_after_refusals(state: &AppState, due_before: i64) -> Result<(), StoreError> {
    if !state.pings_refused.load(Ordering::Acquire) {
        return Ok(());
    }
    let pending = state.store.pending_pings().await?;
    if pending >= i64::from(state.settings.webhooks.max_pending) {
        return Ok(());
    }
    state.pings_refused.store(false, Ordering::Release);
    match state.store.mark_all_licenses_due(due_before).await {
        Ok(n) => {
            tracing::warn!(
                licenses = n,
                "pings were refused while the inbox was full: every license is re-checked"
            );
            Ok(())
        }
        Err(e) => {
            // Not taken after all: the next round tries again.
            state.pings_refused.store(true, Ordering::Release);
            Err(e)
        }
    }
}

fn count(state: &AppState, redecided: &Redecided, round: &mut Round) {
    let code = redecided.code.as_str();
    for _ in redecided.changed() {
        round.changed += 1;
        state
            .metrics
            .reconcile_changed
            .with_label_values(&[code])
            .inc();
    }
    state.metrics.reconcile_checks.inc();
    round.checked += 1;
}
