//! The admin surface: every other Gumroad v2 call passed through, and Maton's connection
//! management. Everything here requires an admin token.

mod cache;
mod connections;
mod passthrough;

use axum::Router;
use http::{HeaderMap, HeaderValue};

use crate::state::AppState;
use crate::upstream::MATON_CONNECTION;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(passthrough::router())
        .merge(connections::router())
        .merge(cache::router())
}

/// The account an admin caller chose with `Maton-Connection`, if any.
pub fn chosen_connection(headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get(MATON_CONNECTION)
        .filter(|v| !v.as_bytes().is_empty())
        .cloned()
}
