//! Processing the inbox: each ping names a license (directly, or through a sale that upstream
//! resolves), which is re-checked upstream and every activation of it re-decided
//! (`crate::decision::redecide`), the ping finished in the same transaction. A round takes the
//! pings that can revoke access first (a refund never waits behind a backlog of sales), and the
//! pings of a round about one license are one re-check, all finished in its transaction.
//! Outages are retried with backoff; pending pings are resumed at start. The ping's own fields
//! are never trusted as the decision.

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

/// One round over the due pings (revoking ones first); returns how many were tried. Pings
/// about the same license are one upstream re-check, and are finished together. A store
/// failure ends the round without charging a ping an attempt.
pub async fn process_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.unix_now();
    let lease = i64::try_from(state.settings.webhooks.claim_lease.as_secs()).unwrap_or(i64::MAX);
    let due = state.store.due_pings(now, BATCH, lease).await?;
    let mut by_subject: Vec<(Subject, Vec<&Ping>)> = Vec::new();
    for ping in &due {
        // A sale revokes nothing; the other resources are reasons to re-check a license.
        if ping.resource_name.as_deref() == Some("sale") {
            state.store.finish_ping(ping, now).await?;
            count(state, "sale", Outcome::Processed);
            continue;
        }
        match serde_json::from_str::<Value>(&ping.payload) {
            Ok(payload) => group(&mut by_subject, subject_of(ping, &payload), ping),
            Err(e) => fail(state, &[ping], e.into(), now).await?,
        }
    }
    let mut by_license: Vec<((String, String), Vec<&Ping>)> = Vec::new();
    for (subject, pings) in by_subject {
        match resolve(state, &subject).await {
            Ok(Some(license)) => group_many(&mut by_license, license, pings),
            // Not a licensed product: nothing to revoke.
            Ok(None) => {
                for ping in pings {
                    state.store.finish_ping(ping, now).await?;
                    count(state, resource_of(ping), Outcome::Processed);
                }
            }
            Err(e) => fail(state, &pings, e.into(), now).await?,
        }
    }
    for ((product, key), pings) in by_license {
        match apply(state, &product, &key, &pings).await {
            // The re-decision finished them.
            Ok(()) => {
                for ping in pings {
                    count(state, resource_of(ping), Outcome::Processed);
                }
            }
            Err(e) => fail(state, &pings, e, now).await?,
        }
    }
    Ok(due.len())
}

/// Adds `ping` to the group of `subject`, in the order groups first appear (revoking first).
fn group<'p, K: PartialEq>(groups: &mut Vec<(K, Vec<&'p Ping>)>, key: K, ping: &'p Ping) {
    group_many(groups, key, vec![ping]);
}

fn group_many<'p, K: PartialEq>(
    groups: &mut Vec<(K, Vec<&'p Ping>)>,
    key: K,
    pings: Vec<&'p Ping>,
) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, group)) => group.extend(pings),
        None => groups.push((key, pings)),
    }
}

/// Records a failed attempt at each of `pings` (a payload that cannot be read is given up at
/// once: no retry can mend it). A store failure is not the pings' fault: it ends the round.
async fn fail(state: &AppState, pings: &[&Ping], e: PingError, now: i64) -> Result<(), StoreError> {
    if let PingError::Store(e) = e {
        return Err(e);
    }
    let reason = e.to_string();
    let hopeless = matches!(e, PingError::Payload(_));
    for ping in pings {
        let resource = resource_of(ping);
        let attempts = ping.attempts + 1;
        let give_up = hopeless || attempts >= i64::from(state.settings.webhooks.max_attempts);
        let next = now + backoff(attempts);
        state.store.retry_ping(ping, &reason, next, give_up).await?;
        tracing::warn!(
            resource,
            attempts,
            reason,
            give_up,
            "webhook ping not processed"
        );
        let outcome = if give_up {
            Outcome::Failed
        } else {
            Outcome::Retried
        };
        count(state, resource, outcome);
    }
    Ok(())
}

/// What a stored ping names: its payload's sale and product, and the key it kept apart (a
/// ping stored before redaction may still carry one in its payload).
fn subject_of(ping: &Ping, payload: &Value) -> Subject {
    let mut subject = Subject::of(payload);
    if let Some(key) = &ping.license_key {
        subject.license_key = Some(key.clone());
    }
    subject
}

fn resource_of(ping: &Ping) -> &str {
    ping.resource_name.as_deref().unwrap_or("unknown")
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

/// Re-checks one license once for all the pings about it, and finishes them all in the
/// re-decision's transaction.
async fn apply(
    state: &AppState,
    product: &str,
    key: &str,
    pings: &[&Ping],
) -> Result<(), PingError> {
    let ids: Vec<i64> = pings.iter().map(|p| p.id).collect();
    let mut resources: Vec<&str> = pings.iter().map(|p| resource_of(p)).collect();
    resources.sort_unstable();
    resources.dedup();
    let resources = resources.join(",");
    let cause = Cause::Ping {
        ids: &ids,
        // One round's pings share its claim.
        claim: pings.first().map_or("", |p| p.claim()),
        resource: Some(&resources),
    };
    let redecided = decision::redecide(state, product, key, cause).await?;
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
