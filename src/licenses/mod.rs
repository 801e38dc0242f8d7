//! The license surface: the public `POST /v2/licenses/verify` (behind per-IP limits) and the
//! admin license edits that must invalidate what the verify cache holds.

mod edit;
pub mod known;
mod verify;

use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::{post, put};

use crate::intake::Admin;
use tower_http::cors::CorsLayer;

use crate::limits::{self, InboundLimits};
use crate::state::AppState;

pub use edit::{action as edit_action, edit, invalidate, invalidate_elsewhere, invalidate_entry};
pub use verify::cached_verify;

pub fn router(limits: InboundLimits, cors: Option<CorsLayer>) -> Router<AppState> {
    let open = |route| crate::cors::with_preflight(route, cors.as_ref());
    let public = Router::new()
        .route("/v2/licenses/verify", open(post(verify::verify)))
        .route("/v2/licenses/verify.json", open(post(verify::verify)))
        .route_layer(from_fn_with_state(limits, limits::enforce));
    // Outside the limits: a preflight is answered before anything counts it.
    let public = match cors {
        Some(cors) => public.layer(cors),
        None => public,
    };
    edit::ACTIONS.iter().fold(public, |router, action| {
        let handler = move |State(state): State<AppState>, Admin(req): Admin| async move {
            edit::edit(&state, action, &req).await
        };
        router
            .route(&format!("/v2/licenses/{action}"), put(handler))
            .route(&format!("/v2/licenses/{action}.json"), put(handler))
    })
}
