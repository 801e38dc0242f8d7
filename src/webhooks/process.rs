//! Processing the inbox: each ping names a license (directly, or through a sale that upstream
//! resolves), whose cached answers are dropped; the license is re-verified upstream and every
//! activation of it re-decided. Failures are retried with backoff; pending pings are resumed at
//! start. The ping's own fields are never trusted as the decision.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::count;
use super::ping::Subject;
use crate::activation::{self, decision::Code};
use crate::budget::Priority;
use crate::state::AppState;
use crate::store::{AuditEntry, Ping, StoreError};
use crate::upstream::{Retry, UpstreamRequest};

/// Pings taken per round.
const BATCH: i64 = 50;
/// Longest wait between attempts at one ping.
const MAX_BACKOFF_SECS: i64 = 600;

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

/// One round over the due pings; returns how many were tried.
pub async fn process_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.caches.clock.unix_now();
    let due = state.store.due_pings(now, BATCH).await?;
    for ping in &due {
        let resource = ping.resource_name.as_deref().unwrap_or("unknown");
        match apply(state, ping).await {
            Ok(()) => {
                state.store.finish_ping(ping.id, now).await?;
                count(state, resource, "processed");
            }
            Err(reason) => {
                let attempts = ping.attempts + 1;
                let give_up = attempts >= i64::from(state.settings.webhooks.max_attempts);
                let next = now + backoff(attempts);
                state
                    .store
                    .retry_ping(ping.id, &reason, next, give_up)
                    .await?;
                count(state, resource, if give_up { "failed" } else { "retried" });
                tracing::warn!(resource, attempts, reason, "webhook ping will be retried");
            }
        }
    }
    Ok(due.len())
}

/// Processed pings are pruned this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Drops processed pings past `webhooks.retention`.
pub async fn prune(state: &AppState) {
    let keep = i64::try_from(state.settings.webhooks.retention.as_secs()).unwrap_or(i64::MAX);
    let before = state.caches.clock.unix_now().saturating_sub(keep);
    match state.store.prune_pings(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "old processed pings removed from the inbox"),
        Err(e) => tracing::warn!(error = %e, "webhook inbox could not be pruned"),
    }
}

/// 5 s, 10 s, 20 s ... capped at ten minutes.
fn backoff(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
    (5_i64 << exp).min(MAX_BACKOFF_SECS)
}

/// What one ping changes. `Err` means "try again later" (upstream unavailable, say).
async fn apply(state: &AppState, ping: &Ping) -> Result<(), String> {
    // A sale revokes nothing; the other resources are reasons to re-check a license.
    if ping.resource_name.as_deref() == Some("sale") {
        return Ok(());
    }
    let payload: Value = serde_json::from_str(&ping.payload).map_err(|e| e.to_string())?;
    let Some((product, key)) = resolve(state, &Subject::of(&payload)).await? else {
        return Ok(()); // not a licensed product: nothing to revoke
    };
    // Re-checked from spare capacity, refreshing the cached answer; only a successful re-check
    // drops the license's other cached entries, so a failed one leaves stale-if-error intact.
    let license =
        activation::check_license_at(state, &product, &key, Priority::Background, true).await;
    let code = license.decision.code;
    if code == Code::UpstreamUnavailable {
        return Err("upstream unavailable for the re-check".into());
    }
    crate::licenses::invalidate(state, &product, &key);
    let now = state.caches.clock.unix_now();
    let activations = state
        .store
        .list(&license.hash)
        .await
        .map_err(|e| e.to_string())?;
    for a in &activations {
        let good = code == Code::Valid;
        state
            .store
            .record_decision(&a.id, code.as_str(), good, now)
            .await
            .map_err(|e| e.to_string())?;
        state
            .metrics
            .webhook_decisions
            .with_label_values(&[code.as_str()])
            .inc();
    }
    // A ping's re-check counts as the reconciler's too.
    state
        .store
        .touch_license(&license.hash, now)
        .await
        .map_err(|e| e.to_string())?;
    let entry = AuditEntry {
        at: now,
        action: "webhook".into(),
        license_hash: license.hash.clone(),
        activation_id: None,
        code: Some(code.as_str().into()),
        detail: ping.resource_name.clone(),
    };
    state.store.audit(entry).await.map_err(|e| e.to_string())
}

/// The license a ping is about: its `license_key`, or the license of the sale it names (asked
/// upstream, from spare capacity: the ping is not worth an app's slot).
async fn resolve(state: &AppState, subject: &Subject) -> Result<Option<(String, String)>, String> {
    // The sale is authoritative for which product and key a ping is about; the ping's own
    // fields are only used when it names no sale.
    for sale_id in &subject.sale_ids {
        if let Some(found) = resolve_sale(state, sale_id).await? {
            return Ok(Some(found));
        }
    }
    Ok(subject
        .license_key
        .clone()
        .map(|key| (subject.product_id.clone().unwrap_or_default(), key)))
}

/// The product and license key of one sale, asked upstream from spare capacity.
pub async fn resolve_sale(
    state: &AppState,
    sale_id: &str,
) -> Result<Option<(String, String)>, String> {
    let request = UpstreamRequest::gumroad(
        http::Method::GET,
        &["sales", sale_id],
        Priority::Background,
        Retry::Safe,
    );
    let answer = state
        .upstream
        .send(request)
        .await
        .map_err(|e| e.to_string())?;
    // A 4xx (other than 429) is a definite "no such sale here": nothing to resolve. Outages and
    // throttling are worth another try.
    if answer.status.is_client_error() && answer.status != http::StatusCode::TOO_MANY_REQUESTS {
        return Ok(None);
    }
    if !answer.status.is_success() {
        return Err(format!("sale lookup answered {}", answer.status.as_u16()));
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let sale = &body["sale"];
    Ok(sale["license_key"].as_str().map(|key| {
        let product = sale["product_id"].as_str().unwrap_or_default();
        (product.to_owned(), key.to_owned())
    }))
}

async fn report_depth(state: &AppState) {
    if let Ok(depth) = state.store.inbox_depth().await {
        let now = state.caches.clock.unix_now();
        state.metrics.webhook_inbox_pending.set(depth.pending);
        let oldest = depth.oldest.map_or(0, |at| now.saturating_sub(at));
        state.metrics.webhook_inbox_oldest_seconds.set(oldest);
    }
}

/// Processing interval floor, so a misconfigured zero does not spin.
pub fn poll_interval(configured: Duration) -> Duration {
    configured.max(Duration::from_millis(50))
}
