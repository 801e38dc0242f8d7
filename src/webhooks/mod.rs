//! Gumroad's webhooks ("pings"): `POST /webhooks/gumroad/{secret}` stores each ping durably
//! before answering 200 (a crash after the answer loses nothing), de-duplicates retries, and
//! keeps malformed pings for inspection (400) as a hash and a size only. Bodies over
//! `webhooks.max_body_bytes` get 413 and are not stored. The inbox is bounded (`webhooks.max_pending`):
//! above it a ping is refused with 503 and not stored, and the reconciler is told to re-check
//! every license, since Gumroad stops retrying after a few minutes. Processing happens from the inbox
//! (`process.rs`): a ping is only a hint to re-check upstream, never proof by itself, since pings
//! are unsigned.

mod ping;
pub mod process;
pub mod register;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gumroad_wire::params::Params;
use http::{HeaderMap, Uri};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::AppError;
use crate::inbound;
use crate::state::AppState;
pub use ping::RESOURCES;
use ping::Received;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/gumroad/{secret}", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    // A wrong (or unconfigured) secret looks exactly like an unknown route.
    if !state.webhook_secret.accepts(&secret) {
        return Err(AppError::NotFound);
    }
    // Its own limit, well under the server's: Gumroad's pings are a few KB at most, and
    // everything accepted here is written to the database.
    let limit = state.settings.webhooks.max_body_bytes;
    let body = inbound::read_body(&headers, body, limit).await?;
    let ct = inbound::content_type(&headers);
    let params = Params::from_request(uri.query(), ct, &body).ok();
    let received = Received::from_body(params.map(Params::into_map), &body);
    let resource = received.resource.as_deref();
    if inbox_full(&state).await? {
        return Err(refuse(&state, resource.unwrap_or("unknown")));
    }
    let now = state.clock.unix_now();
    let new = state
        .store
        .enqueue_ping(
            &received.dedup_key,
            resource,
            &received.payload,
            received.license_key.as_deref(),
            received.malformed.is_some(),
            now,
        )
        .await?;
    let label = resource.unwrap_or("unknown");
    if let Some(reason) = received.malformed {
        count(&state, label, Outcome::Malformed);
        tracing::warn!(
            reason,
            "malformed webhook ping kept (hash and size) for inspection"
        );
        return Err(AppError::BadRequest(format!("Malformed ping: {reason}.")));
    }
    let outcome = if new {
        Outcome::Accepted
    } else {
        Outcome::Duplicate
    };
    count(&state, label, outcome);
    if new {
        state.inbox.notify_one();
    }
    Ok(Json(json!({ "success": true })).into_response())
}

/// The `Retry-After` of a refusal. Gumroad keeps its own schedule (about 1, 3 and 10 minutes);
/// this is for any other sender.
const REFUSED_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether the inbox holds `webhooks.max_pending` pings or more.
async fn inbox_full(state: &AppState) -> Result<bool, AppError> {
    let pending = state.store.pending_pings().await?;
    Ok(pending >= i64::from(state.settings.webhooks.max_pending))
}

/// Refuses a ping unstored: counted, and the reconciler owes every license a re-check, since
/// Gumroad may never send this ping again.
fn refuse(state: &AppState, resource: &str) -> AppError {
    count(state, resource, Outcome::Refused);
    if !state.pings_refused.swap(true, Ordering::AcqRel) {
        tracing::warn!(
            max_pending = state.settings.webhooks.max_pending,
            "webhook inbox full: pings are refused with 503 until it drains"
        );
    }
    AppError::Busy {
        retry_after: REFUSED_RETRY_AFTER,
    }
}

/// What became of a ping, as counted in `webhook_pings_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Duplicate,
    Malformed,
    /// The inbox was full: answered 503, not stored.
    Refused,
    Processed,
    Retried,
    Failed,
}

/// Every outcome label, for the metrics' series created at 0.
pub(crate) const OUTCOMES: [&str; 7] = [
    Outcome::Accepted.label(),
    Outcome::Duplicate.label(),
    Outcome::Malformed.label(),
    Outcome::Refused.label(),
    Outcome::Processed.label(),
    Outcome::Retried.label(),
    Outcome::Failed.label(),
];

impl Outcome {
    const fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Malformed => "malformed",
            Self::Refused => "refused",
            Self::Processed => "processed",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

/// Counts a ping under its resource name, or `unknown` for any name Gumroad does not send (a
/// label must never take an attacker's string).
fn count(state: &AppState, resource: &str, outcome: Outcome) {
    let resource = if RESOURCES.contains(&resource) {
        resource
    } else {
        "unknown"
    };
    state
        .metrics
        .webhook_pings
        .with_label_values(&[resource, outcome.label()])
        .inc();
}
