//! `/v2/...` for admin callers: any method, forwarded with its params as Gumroad would have
//! read them, upstream's status, body and content type passed back unchanged.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;

use crate::error::AppError;
use crate::inbound;
use crate::relay::{Access, Inbound, relay};
use crate::state::AppState;
use crate::upstream::Target;

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/{*rest}", any(forward))
}

async fn forward(State(state): State<AppState>, req: Inbound) -> Result<Response, AppError> {
    let target = Target::Gumroad(inbound::path_segments(req.uri.path()));
    let connection = super::chosen_connection(&req.headers);
    relay(&state, Access::Admin, req, target, connection).await
}
