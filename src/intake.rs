//! Typed request intake: handlers say who may call them in their signature. [`Public`] takes
//! anyone (the desktop-app surface); [`Admin`] takes only admin-token holders, so a handler that
//! takes it cannot be reached without the token. Both read the body under the size limit, take
//! the caller's `access_token` out of what may be forwarded, and parse the params as Gumroad
//! reads them, refusing malformed input with a 400 in Gumroad's shape before any upstream call.
//!
//! Gumroad clients may put the admin token in the body (`access_token` as a form or JSON
//! param), so [`Admin`] is a `FromRequest` that reads the body; it refuses a bad
//! `Authorization` header before reading any of it.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};

use crate::budget::Priority;
use crate::error::AppError;
use crate::inbound::{self, bad_params};
use crate::limits::ClientKey;
use crate::state::AppState;
use crate::upstream::MATON_CONNECTION;
use gumroad_wire::params::Params;

/// Who made the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the desktop-app surface.
    Public,
    /// An admin token holder.
    Admin,
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

/// A request read, cleaned and (for admins) authenticated.
#[derive(Debug)]
pub struct Intake {
    pub access: Access,
    pub method: Method,
    pub uri: Uri,
    /// The caller's headers (credentials are dropped when an upstream request is built).
    pub headers: HeaderMap,
    /// The query without `access_token`.
    pub query: Option<String>,
    /// The body without `access_token`.
    pub body: Bytes,
    /// Query and body params merged, as Gumroad reads them.
    pub params: Params,
    /// The client's per-IP limit key, on routes behind the inbound limits.
    pub client: Option<ClientKey>,
    /// The Gumroad account an admin chose with `Maton-Connection` (`None`: the default).
    pub connection: Option<HeaderValue>,
}

/// Extractor for routes anyone may call.
#[derive(Debug)]
pub struct Public(pub Intake);

/// Extractor for admin routes: rejects (401) a request without a valid admin token.
#[derive(Debug)]
pub struct Admin(pub Intake);

impl FromRequest<AppState> for Public {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        Intake::read(req, state, Access::Public).await.map(Self)
    }
}

impl FromRequest<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        Intake::read(req, state, Access::Admin).await.map(Self)
    }
}

impl Intake {
    async fn read(req: Request, state: &AppState, access: Access) -> Result<Self, AppError> {
        let (parts, body) = req.into_parts();
        let headers = parts.headers;
        let admin = access == Access::Admin;
        // A bad header token is refused before the body is even read.
        if admin && headers.contains_key(header::AUTHORIZATION) {
            state.admin.require(&headers, None)?;
        }
        let limit = state.settings.server.max_body_bytes;
        let body = inbound::read_body(&headers, body, limit).await?;
        let method = parts.method;
        let fwd = inbound::strip_credentials(&method, parts.uri.query(), &headers, body)?;
        if admin {
            state.admin.require(&headers, fwd.access_token.as_deref())?;
        }
        let content_type = inbound::content_type(&headers);
        let params = Params::from_request(fwd.query.as_deref(), content_type, &fwd.body)
            .map_err(bad_params)?;
        let connection = admin.then(|| chosen_connection(&headers)).flatten();
        Ok(Self {
            access,
            method,
            uri: parts.uri,
            client: parts.extensions.get().copied(),
            connection,
            headers,
            query: fwd.query,
            body: fwd.body,
            params,
        })
    }
}

/// The account a caller chose with `Maton-Connection`, if any.
fn chosen_connection(headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get(MATON_CONNECTION)
        .filter(|v| !v.as_bytes().is_empty())
        .cloned()
}
