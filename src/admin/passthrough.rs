//! `/v2/...` for admin callers: any method, forwarded with its params as Gumroad would have
//! read them, upstream's status, body and content type passed back unchanged.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;

use crate::error::AppError;
use crate::inbound;
use crate::intake::Admin;
use crate::relay::relay;
use crate::state::AppState;
use crate::upstream::Target;

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/{*rest}", any(forward))
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
