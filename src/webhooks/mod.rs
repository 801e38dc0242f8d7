//! Gumroad's webhooks ("pings"): `POST /webhooks/gumroad/{secret}` stores each ping durably
//! before answering 200 (a crash after the answer loses nothing), de-duplicates retries, and
//! keeps malformed pings for inspection (400). Processing happens from the inbox
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
    let limit = state.settings.server.max_body_bytes;
    let body = inbound::read_body(&headers, body, limit).await?;
    let ct = inbound::content_type(&headers);
    let received = match Params::from_request(uri.query(), ct, &body) {
        Ok(params) => Received::new(params.into_map()),
        Err(_) => Received::unreadable(&body),
    };
    let now = state.clock.unix_now();
    let resource = received.resource.as_deref();
    let new = state
        .store
        .enqueue_ping(
            &received.dedup_key,
            resource,
            &received.payload,
            received.malformed.is_some(),
            now,
        )
        .await?;
    let label = resource.unwrap_or("unknown");
    if let Some(reason) = received.malformed {
        count(&state, label, Outcome::Malformed);
        tracing::warn!(reason, "malformed webhook ping kept for inspection");
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

/// What became of a ping, as counted in `webhook_pings_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Duplicate,
    Malformed,
    Processed,
    Retried,
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Malformed => "malformed",
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
