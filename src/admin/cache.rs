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

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/cache", delete(purge))
}

async fn purge(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let message = match (p.params.str("product_id"), p.params.str("license_key")) {
        (Some(product), Some(key)) => {
            crate::licenses::invalidate(&state, product, key);
            "The cached answers for this license were purged."
        }
        (None, None) => {
            state.caches.clear();
            "Every cached answer was purged."
        }
        _ => {
            return Err(AppError::BadRequest(
                "Give both product_id and license_key, or neither to purge everything.".into(),
            ));
        }
    };
    Ok(Json(json!({ "success": true, "message": message })).into_response())
}
