//! `DELETE /admin/upstream/pause`: an operator ends a 429 pause and closes the circuit breaker
//! at once, when they know upstream is back (or a `Retry-After` was wrong). Logged and audited.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::delete;
use axum::{Json, Router};
use serde_json::json;

use crate::budget::Resumed;
use crate::error::AppError;
use crate::intake::Admin;
use crate::state::AppState;
use crate::store::AuditEntry;

/// The audit trail is keyed by license; a resume concerns none. `-` can never be a license
/// hash (those are hex), so no license's trail ever shows it, and the operator's own trail is
/// `audit_trail("-")`.
pub(super) const NO_LICENSE: &str = "-";

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/upstream/pause", delete(resume))
}

async fn resume(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let resumed = state.upstream.budget().resume();
    if let Some(shared) = state.upstream.shared_budget() {
        // Every replica's: the pause a 429 set through any of them.
        shared.clear_pause().await;
    }
    let cleared = cleared(&resumed);
    // Logged before the audit is written, so that a store failure still leaves a record.
    tracing::warn!(
        pause_left = ?resumed.pause_left,
        circuit = resumed.circuit.label(),
        "an admin resumed upstream traffic: the 429 pause is cleared and the circuit closed"
    );
    let entry = AuditEntry {
        at: state.clock.unix_now(),
        action: "upstream_resume".into(),
        license_hash: NO_LICENSE.into(),
        activation_id: None,
        code: None,
        detail: Some(match &p.admin {
            Some(name) => format!("by {name}: {cleared}"),
            None => cleared.to_string(),
        }),
    };
    state.store.audit(entry).await?;
    Ok(Json(json!({
        "success": true,
        "message": "Upstream traffic resumed.",
        "cleared": cleared,
    }))
    .into_response())
}

/// What was cleared: the seconds left of the pause (rounded up, 0 when none) and the state the
/// breaker was in.
fn cleared(resumed: &Resumed) -> serde_json::Value {
    let pause = resumed
        .pause_left
        .map_or(0, |d| d.as_secs_f64().ceil() as u64);
    json!({ "pause_seconds": pause, "circuit": resumed.circuit.label() })
}
