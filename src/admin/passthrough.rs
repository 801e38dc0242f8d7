//! `/v2/...` for admin callers: GET, POST, PUT and DELETE (and HEAD, which axum answers on GET
//! routes), forwarded with their params as Gumroad would have read them, upstream's status,
//! body and content type passed back unchanged. Any other method is the router's 405: Gumroad's
//! API uses none, `TRACE` against an upstream that echoes would hand back the Maton key, and
//! `CONNECT` asks a proxy for a tunnel.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{MethodFilter, on};

use crate::error::AppError;
use crate::inbound;
use crate::intake::Admin;
use crate::relay::relay;
use crate::state::AppState;
use crate::upstream::Target;

pub fn router() -> Router<AppState> {
    let gumroad_methods = MethodFilter::GET
        .or(MethodFilter::POST)
        .or(MethodFilter::PUT)
        .or(MethodFilter::DELETE);
    Router::new().route("/v2/{*rest}", on(gumroad_methods, forward))
}

async fn forward(State(state): State<AppState>, Admin(req): Admin) -> Result<Response, AppError> {
    let segments = inbound::path_segments(req.uri.path());
    // `/v2/licenses/%64isable` is a disable too: whatever the spelling, a license edit goes
    // through the handler that invalidates the cache after it.
    if req.method == http::Method::PUT
        && let Some(action) = crate::licenses::edit_action(&segments)
    {
        return crate::licenses::edit(&state, action, &req).await;
    }
    relay(
        &state,
        &req,
        Target::Gumroad(segments),
        req.connection.clone(),
    )
    .await
}
