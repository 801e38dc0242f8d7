//! `/admin/connections[/{id}]`: Maton's connection management (list, create, get, delete).
//! These can delete a seller's OAuth link, so they exist only here, behind the admin token; no
//! other route can reach Maton's `/connections`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, Uri};

use crate::error::AppError;
use crate::inbound;
use crate::state::AppState;
use crate::upstream::{Target, UpstreamRequest, headers};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/connections", get(collection).post(collection))
        .route("/admin/connections/{id}", get(item).delete(item))
}

async fn collection(
    state: State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    relay(state, method, uri, headers, body, None).await
}

async fn item(
    state: State<AppState>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    relay(state, method, uri, headers, body, Some(id)).await
}

async fn relay(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    id: Option<String>,
) -> Result<Response, AppError> {
    let body = inbound::read_body(&headers, body, state.settings.server.max_body_bytes).await?;
    let fwd = inbound::strip_credentials(&method, uri.query(), &headers, body)?;
    state.admin.require(&headers, fwd.access_token.as_deref())?;
    let answer = state
        .upstream
        .send(UpstreamRequest {
            method,
            target: Target::Connections(id),
            query: fwd.query,
            headers: headers::request_headers(&headers),
            body: fwd.body,
            connection: None,
        })
        .await?;
    Ok(answer.into_response())
}
