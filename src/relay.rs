//! The one path a request takes to upstream: read the body under the size limit, take the
//! caller's credentials out, authenticate admin callers, refuse malformed params, send with
//! Gumgate's own key, and pass upstream's answer back unchanged.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, Uri, header};

use crate::error::AppError;
use crate::inbound::{self, bad_params};
use crate::params::Params;
use crate::state::AppState;
use crate::upstream::{Target, UpstreamRequest, headers};

/// Who may make the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the desktop-app surface.
    Public,
    /// Admin token holders only.
    Admin,
}

/// The parts of an inbound request a relay needs.
pub struct Inbound {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Body,
}

impl<S: Send + Sync> FromRequest<S> for Inbound {
    type Rejection = Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        Ok(Self {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// Relays `req` to `target`. `connection` is the `Maton-Connection` to send (`None`: the
/// configured default).
pub async fn relay(
    state: &AppState,
    access: Access,
    req: Inbound,
    target: Target,
    connection: Option<HeaderValue>,
) -> Result<Response, AppError> {
    let Inbound {
        method,
        uri,
        headers,
        body,
    } = req;
    // A bad header token is refused before the body is even read.
    if access == Access::Admin && headers.contains_key(header::AUTHORIZATION) {
        state.admin.require(&headers, None)?;
    }
    let body = inbound::read_body(&headers, body, state.settings.server.max_body_bytes).await?;
    let fwd = inbound::strip_credentials(&method, uri.query(), &headers, body)?;
    if access == Access::Admin {
        state.admin.require(&headers, fwd.access_token.as_deref())?;
    }
    // Fail malformed input with a 400 of our own rather than spending upstream budget on it.
    Params::from_request(
        fwd.query.as_deref(),
        inbound::content_type(&headers),
        &fwd.body,
    )
    .map_err(bad_params)?;
    let answer = state
        .upstream
        .send(UpstreamRequest {
            method,
            target,
            query: fwd.query,
            headers: headers::request_headers(&headers),
            body: fwd.body,
            connection,
        })
        .await?;
    Ok(answer.into_response())
}
