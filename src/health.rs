//! `/livez` and `/readyz`, served on both listeners. Liveness says the process serves;
//! readiness says it should get traffic (configuration loaded, listeners up, not shutting
//! down). Upstream reachability is reported but never fails readiness: when Gumroad is down,
//! replicas that can still answer from cache (or with a clear 502) must stay in rotation.
//! The same holds for every upstream call failing and for Maton refusing Gumgate's own key
//! (issue 10): every replica shares the cause, so pulling them all from rotation would only
//! turn stale answers and clear 502s into connection errors. `/readyz` shows both
//! (`upstream.failing`, `upstream.failing_seconds`, `upstream.credentials_refused`) and the
//! metrics `gumgate_upstream_failing_seconds` and `gumgate_upstream_credentials_refused_total`
//! are what an alert watches. The database is reported the same way (`database.reachable`):
//! verifies from the cache and passthrough calls do not need it; so is Redis in cluster mode
//! (`redis.reachable`, as of the last command sent to it): without it a replica runs on its
//! fallback share of the budget.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
}

async fn livez() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if !state.lifecycle.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting_down" })),
        )
            .into_response();
    }
    let upstream = state.upstream.health().observe().await;
    let budget = state.upstream.budget();
    let circuit = budget.circuit().label();
    let paused = budget.paused_for().map_or(0.0, |d| d.as_secs_f64());
    let engine = match state.store.engine() {
        crate::store::Engine::Sqlite => "sqlite",
        crate::store::Engine::Postgres => "postgres",
    };
    Json(json!({
        "status": "ready",
        "upstream": upstream,
        "budget": { "circuit": circuit, "paused_seconds": paused },
        "database": { "engine": engine, "reachable": state.store.ping().await },
        "redis": match state.upstream.shared_budget() {
            Some(shared) => json!({ "configured": true, "reachable": shared.is_shared() }),
            None => json!({ "configured": false }),
        },
    }))
    .into_response()
}
