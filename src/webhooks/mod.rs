//! Gumroad's webhooks ("pings"): `POST /webhooks/gumroad/{secret}` stores each ping durably
//! before answering 200 (a crash after the answer loses nothing), de-duplicates retries, and
//! keeps malformed pings for inspection (400). Processing happens from the inbox
//! (`process.rs`): a ping is only a hint to re-check upstream, never proof by itself, since pings
//! are unsigned.

mod ping;
pub mod process;
pub mod reconcile;
pub mod register;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gumroad_wire::params::Params;
use serde_json::json;

use crate::error::AppError;
use crate::inbound;
use crate::relay::Inbound;
use crate::state::AppState;
pub use ping::RESOURCES;
use ping::Received;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/gumroad/{secret}", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    req: Inbound,
) -> Result<Response, AppError> {
    // A wrong (or unconfigured) secret looks exactly like an unknown route.
    if !state.webhook_secret.accepts(&secret) {
        return Err(AppError::NotFound);
    }
    let limit = state.settings.server.max_body_bytes;
    let body = inbound::read_body(&req.headers, req.body, limit).await?;
    let ct = inbound::content_type(&req.headers);
    let received = match Params::from_request(req.uri.query(), ct, &body) {
        Ok(params) => Received::new(params.into_map()),
        Err(_) => Received::unreadable(&body),
    };
    let now = state.caches.clock.unix_now();
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
        count(&state, label, "malformed");
        tracing::warn!(reason, "malformed webhook ping kept for inspection");
        return Err(AppError::BadRequest(format!("Malformed ping: {reason}.")));
    }
    count(&state, label, if new { "accepted" } else { "duplicate" });
    if new {
        state.inbox.notify_one();
    }
    Ok(Json(json!({ "success": true })).into_response())
}

/// Counts a ping under its resource name, or `unknown` for any name Gumroad does not send (a
/// label must never take an attacker's string).
fn count(state: &AppState, resource: &str, outcome: &str) {
    let resource = if RESOURCES.contains(&resource) {
        resource
    } else {
        "unknown"
    };
    state
        .metrics
        .webhook_pings
        .with_label_values(&[resource, outcome])
        .inc();
}
