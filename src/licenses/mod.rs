//! The public license surface: `POST /v2/licenses/verify`, Gumroad-compatible, no token needed.
//! The caller's params (form, JSON or query) are forwarded as sent, minus any credential, with
//! Gumgate's own Maton key and the configured connection; the caller cannot pick the account.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;

use crate::error::AppError;
use crate::relay::{Access, Inbound, relay};
use crate::state::AppState;
use crate::upstream::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/licenses/verify", post(verify))
        .route("/v2/licenses/verify.json", post(verify))
}

async fn verify(State(state): State<AppState>, req: Inbound) -> Result<Response, AppError> {
    let target = Target::Gumroad(vec!["v2".into(), "licenses".into(), "verify".into()]);
    relay(&state, Access::Public, req, target, None).await
}
