//! The admin surface: every other Gumroad v2 call passed through, and Maton's connection
//! management. Everything here requires an admin token.

mod cache;
mod connections;
mod passthrough;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(passthrough::router())
        .merge(connections::router())
        .merge(cache::router())
}
