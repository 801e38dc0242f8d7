//! `DELETE /admin/cache`: an operator's purge. With `product_id` and `license_key`, drops that
//! license's cached verify answers; without params, empties every cache.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum::routing::delete;
use axum::{Router, response::IntoResponse};
use serde_json::json;

use crate::error::AppError;
use crate::intake::Admin;
use crate::state::AppState;
use crate::store::AuditEntry;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/cache", delete(purge))
}

async fn purge(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let (message, license_hash) = match (p.params.str("product_id"), p.params.str("license_key")) {
        (Some(product), Some(key)) => {
            crate::licenses::invalidate(&state, product, key);
            let hash = crate::hashes::license_hash(key);
            ("The cached answers for this license were purged.", hash)
        }
        (None, None) => {
            state.caches.clear();
            if let Some(invalidations) = &state.invalidations {
                invalidations.publish(crate::cluster::Invalidation::All);
            }
            // A global action: no license, under the marker the audit uses for those.
            (
                "Every cached answer was purged.",
                super::upstream::NO_LICENSE.to_owned(),
            )
        }
        _ => {
            return Err(AppError::BadRequest(
                "Give both product_id and license_key, or neither to purge everything.".into(),
            ));
        }
    };
    let entry = AuditEntry {
        at: state.clock.unix_now(),
        action: "cache_purge".into(),
        license_hash,
        activation_id: None,
        code: None,
        detail: p.admin.map(|name| format!("by {name}")),
    };
    state.store.audit(entry).await?;
    Ok(Json(json!({ "success": true, "message": message })).into_response())
}
