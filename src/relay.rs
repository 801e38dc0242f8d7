//! Relaying: a request read by `crate::intake` goes upstream with Gumgate's own key under the
//! shared budget, and upstream's answer comes back unchanged. The cached routes build their
//! upstream request here too and send it on their own terms.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method};

use crate::budget::DenyReason;
use crate::error::AppError;
use crate::intake::{Access, Intake};
use crate::state::AppState;
use crate::upstream::{Retry, Target, UpstreamError, UpstreamRequest, headers};

impl Intake {
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

/// Relays `req` to `target` and passes the answer back. `connection` is the `Maton-Connection`
/// to send (`None`: the configured default).
pub async fn relay(
    state: &AppState,
    req: &Intake,
    target: Target,
    connection: Option<HeaderValue>,
) -> Result<Response, AppError> {
    let answer = state
        .upstream
        .send(req.upstream_request(target, connection))
        .await
        .map_err(|e| req.failure(e))?;
    Ok(answer.into_response())
}
