//! The public license surface: `POST /v2/licenses/verify`, Gumroad-compatible, no token needed.
//! The caller's params (form, JSON or query) are forwarded as sent, minus any credential, with
//! Gumgate's own Maton key and the configured connection; the caller cannot pick the account.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, Method, Uri};

use crate::error::AppError;
use crate::inbound::{self, bad_params};
use crate::params::Params;
use crate::state::AppState;
use crate::upstream::{Target, UpstreamRequest, headers};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/licenses/verify", post(verify))
        .route("/v2/licenses/verify.json", post(verify))
}

async fn verify(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let body = inbound::read_body(&headers, body, state.settings.server.max_body_bytes).await?;
    let fwd = inbound::strip_credentials(&Method::POST, uri.query(), &headers, body)?;
    // Fail malformed input here with a 400 of our own rather than spending upstream budget on it.
    Params::from_request(
        fwd.query.as_deref(),
        inbound::content_type(&headers),
        &fwd.body,
    )
    .map_err(bad_params)?;
    let answer = state
        .upstream
        .send(UpstreamRequest {
            method: Method::POST,
            target: Target::Gumroad(vec!["v2".into(), "licenses".into(), "verify".into()]),
            query: fwd.query,
            headers: headers::request_headers(&headers),
            body: fwd.body,
            connection: None,
        })
        .await?;
    Ok(answer.into_response())
}
