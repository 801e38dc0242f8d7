//! Desktop activation, beyond Gumroad: one decision per license with a reason code, seats per
//! machine fingerprint kept by Gumgate, and Ed25519-signed tokens apps verify offline against
//! `/.well-known/jwks.json`.

mod admin;
mod api;
mod grant;
mod input;
mod mirror;
pub mod reconcile;
mod reply;
pub mod retention;

use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::header;

use crate::limits::{self, InboundLimits};
use crate::state::AppState;

pub fn router(limits: InboundLimits) -> Router<AppState> {
    let public = Router::new()
        .route("/v1/licenses/activate", post(api::activate))
        .route("/v1/licenses/validate", post(api::validate))
        .route("/v1/licenses/deactivate", post(api::deactivate))
        .route_layer(from_fn_with_state(limits, limits::enforce));
    public
        .route("/.well-known/jwks.json", get(jwks))
        .route("/admin/licenses/activations", get(admin::list))
        .route("/admin/activations/{id}", delete(admin::force_deactivate))
        .route("/admin/licenses/release", post(admin::release))
        .route("/admin/licenses/audit", get(admin::audit))
}

/// The public keys apps verify tokens with; cacheable for a few minutes (rotation keeps old
/// keys published long enough for that).
async fn jwks(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        axum::Json(state.signer.jwks()),
    )
        .into_response()
}
