//! `/v2/...` for admin callers: any method, forwarded with its params as Gumroad would have
//! read them, upstream's status, body and content type passed back unchanged.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{HeaderMap, Method, Uri};

use crate::error::AppError;
use crate::inbound;
use crate::state::AppState;
use crate::upstream::{Target, UpstreamRequest, headers};

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/{*rest}", any(forward))
}

async fn forward(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    // A bad header token is refused before the body is even read.
    if headers.contains_key(http::header::AUTHORIZATION) {
        state.admin.require(&headers, None)?;
    }
    let body = inbound::read_body(&headers, body, state.settings.server.max_body_bytes).await?;
    let fwd = inbound::strip_credentials(&method, uri.query(), &headers, body)?;
    state.admin.require(&headers, fwd.access_token.as_deref())?;
    let answer = state
        .upstream
        .send(UpstreamRequest {
            method,
            target: Target::Gumroad(inbound::path_segments(uri.path())),
            query: fwd.query,
            headers: headers::request_headers(&headers),
            body: fwd.body,
            connection: super::chosen_connection(&headers),
        })
        .await?;
    Ok(answer.into_response())
}
