//! Typed request intake: handlers say who may call them in their signature. [`Public`] takes
//! anyone (the desktop-app surface); [`Admin`] takes only admin-token holders, so a handler that
//! takes it cannot be reached without the token. Both read the body under the size limit, take
//! the caller's `access_token` out of what may be forwarded, and parse the params as Gumroad
//! reads them, refusing malformed input with a 400 in Gumroad's shape before any upstream call.
//!
//! Gumroad clients may put the admin token in the body (`access_token` as a form or JSON
//! param), so [`Admin`] is a `FromRequest` that reads the body; it refuses a bad
//! `Authorization` header before reading any of it. It refuses (429) a client that has spent
//! its failed admin authentications (`limits.failed_admin_auth_per_ip`) before reading
//! anything and again right before comparing a token, and counts each 401 it gives against
//! the client (`crate::limits`).

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
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
    /// The admin token's name (`name:token` in `GUMGATE_ADMIN_TOKEN`), for admin calls.
    pub admin: Option<String>,
}

/// Extractor for routes anyone may call.
#[derive(Debug)]
pub struct Public(pub Intake);

/// Extractor for admin routes: rejects (401) a request without a valid admin token, and (429)
/// every request of a client locked out for guessing.
#[derive(Debug)]
pub struct Admin(pub Intake);

impl FromRequest<AppState> for Public {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        Intake::read(req, state, Access::Public).await.map(Self)
    }
}

impl FromRequest<AppState> for Admin {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        Intake::read(req, state, Access::Admin).await.map(Self)
    }
}

/// Why a request was refused at intake: our own error, or the 429 of a client locked out for
/// guessing admin tokens (built by `crate::limits`, with its RateLimit fields).
#[derive(Debug)]
pub enum Refusal {
    Error(AppError),
    /// Boxed: a `Response` would make every intake `Result` large.
    LockedOut(Box<Response>),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Self::Error(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Error(e) => e.into_response(),
            Self::LockedOut(response) => *response,
        }
    }
}

impl Intake {
    async fn read(req: Request, state: &AppState, access: Access) -> Result<Self, Refusal> {
        let (parts, body) = req.into_parts();
        let headers = parts.headers;
        let gate = (access == Access::Admin).then(|| Gate {
            state,
            client: state.limits.client_key(&parts.extensions, &headers),
        });
        // A locked-out client, then a bad header token, are refused before the body is read.
        if let Some(gate) = &gate {
            if headers.contains_key(header::AUTHORIZATION) {
                gate.authenticate(&headers, None)?;
            } else {
                gate.check()?;
            }
        }
        let limit = state.settings.server.max_body_bytes;
        let body = inbound::read_body(&headers, body, limit).await?;
        let method = parts.method;
        let fwd = inbound::strip_credentials(&method, parts.uri.query(), &headers, body)?;
        let admin = match &gate {
            Some(gate) => Some(gate.authenticate(&headers, fwd.access_token.as_deref())?),
            None => None,
        };
        let content_type = inbound::content_type(&headers);
        let params = Params::from_request(fwd.query.as_deref(), content_type, &fwd.body)
            .map_err(bad_params)?;
        let connection = gate.and_then(|_| chosen_connection(&headers));
        Ok(Self {
            access,
            method,
            uri: parts.uri,
            client: parts.extensions.get().copied(),
            connection,
            admin,
            headers,
            query: fwd.query,
            body: fwd.body,
            params,
        })
    }
}

/// Admin authentication under the client's lockout (`limits.failed_admin_auth_per_ip`).
struct Gate<'a> {
    state: &'a AppState,
    client: ClientKey,
}

impl Gate<'_> {
    /// Refuses a client that has spent its failed attempts.
    fn check(&self) -> Result<(), Refusal> {
        match self.state.limits.admin_refusal(self.client) {
            Some(refused) => Err(Refusal::LockedOut(Box::new(refused))),
            None => Ok(()),
        }
    }

    /// Compares the token, counting a failure against the client. The lockout is checked
    /// again right before, with no await in between: a request that passed the first check
    /// and then sent its body slowly is refused if its client was locked out meanwhile.
    /// Returns the token's name, which goes on the request's span (so its log lines name the
    /// admin) and into audit rows; never the token.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        param_token: Option<&str>,
    ) -> Result<String, Refusal> {
        self.check()?;
        let name = self
            .state
            .admin
            .require(headers, param_token)
            .inspect_err(|_| self.state.limits.admin_failed(self.client))?;
        tracing::Span::current().record("admin", name.as_str());
        Ok(name)
    }
}

/// The account a caller chose with `Maton-Connection`, if any.
fn chosen_connection(headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get(MATON_CONNECTION)
        .filter(|v| !v.as_bytes().is_empty())
        .cloned()
}
