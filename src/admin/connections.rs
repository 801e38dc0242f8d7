//! `/admin/connections[/{id}]`: Maton's connection management (list, create, get, delete).
//! These can delete a seller's OAuth link, so they exist only here, behind the admin token; no
//! other route can reach Maton's `/connections`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use crate::error::AppError;
use crate::intake::Admin;
use crate::relay::relay;
use crate::state::AppState;
use crate::upstream::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/connections", get(collection).post(collection))
        .route("/admin/connections/{id}", get(item).delete(item))
}

async fn collection(
    State(state): State<AppState>,
    Admin(req): Admin,
) -> Result<Response, AppError> {
    relay(&state, &req, Target::Connections(None), None).await
}

async fn item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Admin(req): Admin,
) -> Result<Response, AppError> {
    relay(&state, &req, Target::Connections(Some(id)), None).await
}
