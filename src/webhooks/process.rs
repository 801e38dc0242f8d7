//! Processing the inbox: each ping names a license (directly, or through a sale that upstream
//! resolves), which is re-checked upstream and every activation of it re-decided
//! (`crate::decision::redecide`), the ping finished in the same transaction. Outages are
//! retried with backoff; pending pings are resumed at start. The ping's own fields are never
//! trusted as the decision.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::ping::Subject;
use super::{Outcome, count};
use crate::decision::{self, Cause, RecheckError, SaleLookupError};
use crate::state::AppState;
use crate::store::{Ping, StoreError};

/// Pings taken per round.
const BATCH: i64 = 50;
/// Longest wait between attempts at one ping.
const MAX_BACKOFF_SECS: i64 = 600;

/// Why a ping was not processed this time.
#[derive(Debug, thiserror::Error)]
enum PingError {
    /// The sale the ping names could not be looked up: try again later.
    #[error(transparent)]
    SaleLookup(#[from] SaleLookupError),
    /// Upstream could not answer the re-check: try again later.
    #[error("upstream is unavailable for the re-check")]
    Recheck,
    /// The stored payload is not the JSON the receiver wrote: no retry can mend it.
    #[error("the stored payload is unreadable: {0}")]
    Payload(#[from] serde_json::Error),
    /// Our own database failed: the ping is not at fault, and the round stops.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RecheckError> for PingError {
    fn from(e: RecheckError) -> Self {
        match e {
            RecheckError::Unavailable => Self::Recheck,
            RecheckError::Store(e) => Self::Store(e),
        }
    }
}

/// Processes due pings until `stop`: at once when a ping arrives, else every poll interval.
pub async fn run(state: AppState, stop: CancellationToken) {
    let interval = poll_interval(state.settings.webhooks.poll_interval);
    let mut pruned_at = None::<tokio::time::Instant>;
    loop {
        if let Err(e) = process_due(&state).await {
            tracing::warn!(error = %e, "webhook inbox could not be processed");
        }
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(tokio::time::Instant::now());
            prune(&state).await;
        }
        report_depth(&state).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.inbox.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One round over the due pings; returns how many were tried. A store failure ends the round
/// without charging the ping an attempt.
pub async fn process_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.unix_now();
    let due = state.store.due_pings(now, BATCH).await?;
    for ping in &due {
        let resource = ping.resource_name.as_deref().unwrap_or("unknown");
        let outcome = match apply(state, ping).await {
            Ok(()) => Outcome::Processed,
            Err(PingError::Store(e)) => return Err(e),
            Err(e) => {
                let attempts = ping.attempts + 1;
                let hopeless = matches!(e, PingError::Payload(_));
                let give_up =
                    hopeless || attempts >= i64::from(state.settings.webhooks.max_attempts);
                let reason = e.to_string();
                let next = now + backoff(attempts);
                state
                    .store
                    .retry_ping(ping.id, &reason, next, give_up)
                    .await?;
                tracing::warn!(
                    resource,
                    attempts,
                    reason,
                    give_up,
                    "webhook ping not processed"
                );
                if give_up {
                    Outcome::Failed
                } else {
                    Outcome::Retried
                }
            }
        };
        count(state, resource, outcome);
    }
    Ok(due.len())
}

/// Processed pings are pruned this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Drops processed, failed and malformed pings past `webhooks.retention`.
pub async fn prune(state: &AppState) {
    let keep = i64::try_from(state.settings.webhooks.retention.as_secs()).unwrap_or(i64::MAX);
    let before = state.clock.unix_now().saturating_sub(keep);
    match state.store.prune_pings(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "old pings removed from the inbox"),
        Err(e) => tracing::warn!(error = %e, "webhook inbox could not be pruned"),
    }
}

/// 5 s, 10 s, 20 s ... capped at ten minutes.
fn backoff(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
    (5_i64 << exp).min(MAX_BACKOFF_SECS)
}

/// What one ping changes; on success the ping is finished.
async fn apply(state: &AppState, ping: &Ping) -> Result<(), PingError> {
    let now = state.clock.unix_now();
    // A sale revokes nothing; the other resources are reasons to re-check a license.
    if ping.resource_name.as_deref() == Some("sale") {
        return Ok(state.store.finish_ping(ping.id, now).await?);
    }
    let payload: Value = serde_json::from_str(&ping.payload)?;
    let Some((product, key)) = resolve(state, &Subject::of(&payload)).await? else {
        // Not a licensed product: nothing to revoke.
        return Ok(state.store.finish_ping(ping.id, now).await?);
    };
    let cause = Cause::Ping {
        id: ping.id,
        resource: ping.resource_name.as_deref(),
    };
    let redecided = decision::redecide(state, &product, &key, cause).await?;
    let decided = redecided.previous.len() as u64;
    if decided > 0 {
        let code = redecided.code.as_str();
        let counter = state.metrics.webhook_decisions.with_label_values(&[code]);
        counter.inc_by(decided);
    }
    Ok(())
}

/// The license a ping is about: the license of the sale it names (asked upstream from spare
/// capacity: the ping is not worth an app's slot), else its own `license_key`.
async fn resolve(
    state: &AppState,
    subject: &Subject,
) -> Result<Option<(String, String)>, SaleLookupError> {
    // The sale is authoritative for which product and key a ping is about; the ping's own
    // fields are only used when it names no sale.
    for sale_id in &subject.sale_ids {
        if let Some(found) = decision::license_of_sale(state, sale_id).await? {
            return Ok(Some(found));
        }
    }
    Ok(subject
        .license_key
        .clone()
        .map(|key| (subject.product_id.clone().unwrap_or_default(), key)))
}

async fn report_depth(state: &AppState) {
    if let Ok(depth) = state.store.inbox_depth().await {
        let now = state.clock.unix_now();
        state.metrics.webhook_inbox_pending.set(depth.pending);
        let oldest = depth.oldest.map_or(0, |at| now.saturating_sub(at));
        state.metrics.webhook_inbox_oldest_seconds.set(oldest);
    }
}

/// Processing interval floor, so a misconfigured zero does not spin.
pub fn poll_interval(configured: Duration) -> Duration {
    configured.max(Duration::from_millis(50))
}
