//! Desktop activation, beyond Gumroad: one decision per license with a reason code, seats per
//! machine fingerprint kept by Gumgate, and Ed25519-signed tokens apps verify offline against
//! `/.well-known/jwks.json`.

mod admin;
mod api;
mod grant;
pub mod heartbeats;
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

use tower_http::cors::CorsLayer;

use crate::limits::{self, InboundLimits};
use crate::state::AppState;

/// The public activation routes (CORS for desktop web views when `cors` is set) and the admin
/// ones.
pub fn router(limits: InboundLimits, cors: Option<CorsLayer>) -> Router<AppState> {
    let open = |route| crate::cors::with_preflight(route, cors.as_ref());
    let public = Router::new()
        .route("/v1/licenses/activate", open(post(api::activate)))
        .route("/v1/licenses/validate", open(post(api::validate)))
        .route("/v1/licenses/deactivate", open(post(api::deactivate)))
        .route("/v1/licenses/heartbeat", open(post(api::heartbeat)))
        .route("/v1/licenses/machines", open(post(api::machines)))
        .route_layer(from_fn_with_state(limits, limits::enforce))
        .route("/.well-known/jwks.json", open(get(jwks)));
    // Outside the limits: a preflight is answered before anything counts it.
    let public = match cors {
        Some(cors) => public.layer(cors),
        None => public,
    };
    public
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
