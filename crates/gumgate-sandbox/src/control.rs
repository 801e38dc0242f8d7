//! The sandbox's own control surface under `/_sandbox`: recorded requests, faults and reset.
//! It is a test tool: no auth, not recorded, not rate-limited, never faulted.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};

use super::{Faults, RecordedRequest, state::AppState};

/// `GET|DELETE /_sandbox/requests`, `GET|PUT /_sandbox/faults`, `POST /_sandbox/reset`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/requests", get(requests).delete(clear_requests))
        .route("/_sandbox/faults", get(faults).put(set_faults))
        .route("/_sandbox/reset", post(reset))
}

async fn requests(State(state): State<AppState>) -> Json<Vec<RecordedRequest>> {
    Json(state.requests())
}

async fn clear_requests(State(state): State<AppState>) -> StatusCode {
    state.clear_requests();
    StatusCode::NO_CONTENT
}

async fn faults(State(state): State<AppState>) -> Json<Faults> {
    Json(state.faults())
}

async fn set_faults(State(state): State<AppState>, Json(faults): Json<Faults>) -> Json<Faults> {
    state.set_faults(faults.clone());
    Json(faults)
}

/// Restores the seed data (connections, products, sales, licenses, webhooks). Faults and the
/// recorded requests have their own endpoints and are left as they are.
async fn reset(State(state): State<AppState>) -> StatusCode {
    state.reset_store();
    StatusCode::NO_CONTENT
}
