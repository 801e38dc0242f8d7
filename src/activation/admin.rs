//! Admin views of activations: list a license's machines, force-deactivate one, release every
//! seat, read the audit trail. Every change is audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::input::required;
use crate::error::AppError;
use crate::hashes::license_hash;
use crate::intake::Admin;
use crate::state::AppState;
use crate::store::{Actor, Deactivated};

/// `GET /admin/licenses/activations?product_id&license_key`.
pub async fn list(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let hash = license_hash(required(&p.params, "license_key")?);
    let activations = state.store.list(&hash).await?;
    Ok(Json(json!({
        "success": true,
        "seats_used": activations.len(),
        "activations": activations,
    }))
    .into_response())
}

/// `DELETE /admin/activations/{id}?product_id&license_key`: no daily limit for admins.
pub async fn force_deactivate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Admin(p): Admin,
) -> Result<Response, AppError> {
    let hash = license_hash(required(&p.params, "license_key")?);
    let now = state.clock.unix_now();
    match state
        .store
        .deactivate(&hash, &id, Actor::Admin, u32::MAX, now, p.admin.as_deref())
        .await?
    {
        // The store audits the deactivation in the same transaction.
        Deactivated::Done => {
            Ok(Json(json!({ "success": true, "deactivated": true })).into_response())
        }
        Deactivated::NotFound | Deactivated::TooManyToday { .. } => Err(AppError::NotFound),
    }
}

/// `POST /admin/licenses/release` with `product_id` and `license_key`: frees every seat.
pub async fn release(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let hash = license_hash(required(&p.params, "license_key")?);
    let now = state.clock.unix_now();
    // Audited by the store in the same transaction.
    let released = state
        .store
        .release_all(&hash, now, p.admin.as_deref())
        .await?;
    Ok(Json(json!({ "success": true, "released": released })).into_response())
}

/// `GET /admin/licenses/audit?product_id&license_key`: the newest entries first.
pub async fn audit(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let hash = license_hash(required(&p.params, "license_key")?);
    let trail = state.store.audit_trail(&hash, 500).await?;
    Ok(Json(json!({ "success": true, "audit": trail })).into_response())
}
