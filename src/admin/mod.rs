//! The admin surface: every other Gumroad v2 call passed through, Maton's connection
//! management, the cache purge and the upstream resume. Everything here requires an admin
//! token.

mod cache;
mod connections;
mod passthrough;
mod upstream;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(passthrough::router())
        .merge(connections::router())
        .merge(cache::router())
        .merge(upstream::router())
}
