//! The audit trail's retention: entries older than `audit.retention` are deleted at start and
//! hourly, through the one DELETE the table's triggers allow ([`Store::prune_audit`]).
//!
//! A task of its own on the state's tracker rather than a step of the webhook inbox's hourly
//! prune: the inbox loop can spend its rounds waiting on upstream, and the trail's retention is
//! no business of webhooks, so a reader looking for it finds it here by name.
//!
//! [`Store::prune_audit`]: crate::store::Store::prune_audit

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Old entries are pruned this often; a day's worth of margin is nothing against a retention of
/// months.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Prunes at once, then every [`PRUNE_EVERY`], until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    loop {
        prune(&state).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Deletes the entries older than `audit.retention` (by the state's clock); returns how many.
/// A store failure is logged and retried at the next round.
pub async fn prune(state: &AppState) -> u64 {
    let keep = i64::try_from(state.settings.audit.retention.as_secs()).unwrap_or(i64::MAX);
    let before = state.clock.unix_now().saturating_sub(keep);
    match state.store.prune_audit(before).await {
        Ok(n) => {
            state.metrics.audit_pruned.inc_by(n);
            if n > 0 {
                tracing::info!(pruned = n, "audit entries past the retention removed");
            }
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "the audit trail could not be pruned");
            0
        }
    }
}
