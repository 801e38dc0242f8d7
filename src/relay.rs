//! The one path a request takes to upstream: read the body under the size limit, take the
//! caller's credentials out, authenticate admin callers, refuse malformed params ([`prepare`]),
//! send with Gumgate's own key under the shared budget, and pass upstream's answer back
//! unchanged ([`relay`]). The cached routes use `prepare` and send on their own terms.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gumroad_wire::params::Params;
use http::{HeaderMap, HeaderValue, Method, Uri, header};

use crate::budget::{DenyReason, Priority};
use crate::error::AppError;
use crate::inbound::{self, bad_params};
use crate::state::AppState;
use crate::upstream::{Retry, Target, UpstreamError, UpstreamRequest, headers};

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
    /// The client's per-IP limit key, on routes behind the inbound limits.
    pub client: Option<crate::limits::ClientKey>,
}

impl<S: Send + Sync> FromRequest<S> for Inbound {
    type Rejection = Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        Ok(Self {
            client: parts.extensions.get().copied(),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// A request read, authenticated and cleaned, ready to be sent.
pub struct Prepared {
    pub access: Access,
    pub method: Method,
    /// The caller's headers (credentials are dropped when the upstream request is built).
    pub headers: HeaderMap,
    /// The query without `access_token`.
    pub query: Option<String>,
    /// The body without `access_token`.
    pub body: Bytes,
    /// Query and body params merged, as Gumroad reads them.
    pub params: Params,
}

/// Reads, cleans and (for admin routes) authenticates a request.
pub async fn prepare(state: &AppState, access: Access, req: Inbound) -> Result<Prepared, AppError> {
    let Inbound {
        method,
        uri,
        headers,
        body,
        ..
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
    let params = Params::from_request(
        fwd.query.as_deref(),
        inbound::content_type(&headers),
        &fwd.body,
    )
    .map_err(bad_params)?;
    Ok(Prepared {
        access,
        method,
        headers,
        query: fwd.query,
        body: fwd.body,
        params,
    })
}

impl Prepared {
    /// The upstream request for this call. Reads (GET, HEAD) are safe to retry; anything else
    /// may have changed state and is sent once.
    pub fn upstream_request(
        &self,
        target: Target,
        connection: Option<HeaderValue>,
    ) -> UpstreamRequest {
        let retry = if matches!(self.method, Method::GET | Method::HEAD) {
            Retry::Safe
        } else {
            Retry::Never
        };
        UpstreamRequest {
            method: self.method.clone(),
            target,
            query: self.query.clone(),
            headers: headers::request_headers(&self.headers),
            body: self.body.clone(),
            connection,
            priority: self.access.priority(),
            retry,
        }
    }

    /// The client answer for an upstream failure: a spent budget or a pause is 429 for an admin
    /// caller (they can back off), 503 for the public; an open circuit is 503 for both.
    pub fn failure(&self, e: UpstreamError) -> AppError {
        match e {
            UpstreamError::Denied(d)
                if self.access == Access::Admin && d.reason != DenyReason::CircuitOpen =>
            {
                AppError::TooManyRequests {
                    retry_after: d.retry_after,
                }
            }
            other => other.into(),
        }
    }
}

impl Access {
    /// Public license calls first, admin calls next.
    pub fn priority(self) -> Priority {
        match self {
            Self::Public => Priority::Public,
            Self::Admin => Priority::Admin,
        }
    }
}

/// Relays `req` to `target` and passes the answer back. `connection` is the `Maton-Connection`
/// to send (`None`: the configured default).
pub async fn relay(
    state: &AppState,
    access: Access,
    req: Inbound,
    target: Target,
    connection: Option<HeaderValue>,
) -> Result<Response, AppError> {
    let prepared = prepare(state, access, req).await?;
    let answer = state
        .upstream
        .send(prepared.upstream_request(target, connection))
        .await
        .map_err(|e| prepared.failure(e))?;
    Ok(answer.into_response())
}
