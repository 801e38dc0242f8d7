//! The error a client sees. Every failure becomes Gumroad's own shape,
//! `{"success":false,"message":"..."}`, with a stable, human message and never an internal
//! detail; causes of 5xx answers are logged here, server-side, where the operator reads them.
//!
//! Upstream failures arrive as [`crate::upstream::UpstreamError`] (which knows what is
//! transient) and are turned into a client answer by the `From` impl below.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::upstream::UpstreamError;

/// An answer Gumgate itself gives instead of upstream's.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("The access token is missing or invalid.")]
    Unauthorized,
    #[error("Not found.")]
    NotFound,
    #[error("Method not allowed.")]
    MethodNotAllowed,
    #[error("The request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    #[error(
        "The request body must be application/x-www-form-urlencoded or application/json in UTF-8."
    )]
    UnsupportedMediaType,
    #[error("The upstream (Gumroad through Maton) could not be reached.")]
    UpstreamUnreachable,
    #[error("The upstream (Gumroad through Maton) did not answer in time.")]
    UpstreamTimeout,
    /// Maton refused the gateway's own credentials: the operator's problem, not the caller's.
    #[error(
        "The gateway's upstream credentials were refused by Maton; the gateway's operator must renew them."
    )]
    UpstreamCredentialsRefused,
    #[error("The request took too long.")]
    RequestTimeout,
    #[error(
        "Gumroad (through Maton) is unavailable right now and no earlier answer can stand in. Please retry."
    )]
    Unavailable { retry_after: Duration },
    #[error("Gumgate is too busy to take this now. Please retry later.")]
    Busy { retry_after: Duration },
    #[error("The upstream request budget is spent. Please retry later.")]
    TooManyRequests { retry_after: Duration },
    #[error("Something went wrong inside Gumgate.")]
    Internal(String),
    /// A store (database) failure: answered like [`AppError::Internal`], and marked on the
    /// response with [`DatabaseFailed`] so the metrics middleware counts it
    /// (`gumgate_database_errors_total`).
    #[error("Something went wrong inside Gumgate.")]
    Database(String),
    /// The database cannot be reached (a PostgreSQL server down or out of connections): 503
    /// with a `Retry-After`, since a retry will work once it is back; marked and counted as
    /// [`AppError::Database`] is.
    #[error("Gumgate's database is unavailable. Please retry later.")]
    DatabaseUnavailable(String),
}

/// How long a client is asked to wait when the database cannot be reached.
const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Response extension marking a 500 caused by a store error; counted by the metrics middleware.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseFailed;

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UpstreamUnreachable | Self::UpstreamCredentialsRefused => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout | Self::RequestTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable { .. } | Self::Busy { .. } | Self::DatabaseUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) | Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<UpstreamError> for AppError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Timeout => Self::UpstreamTimeout,
            UpstreamError::Connect | UpstreamError::Transport(_) => Self::UpstreamUnreachable,
            UpstreamError::TooLarge => Self::UpstreamUnreachable,
            UpstreamError::CredentialsRefused(_) => Self::UpstreamCredentialsRefused,
            UpstreamError::Denied(d) => Self::Unavailable {
                retry_after: d.retry_after,
            },
        }
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        // The database is ours: its failures are internal, logged, counted, never shown.
        if e.is_unavailable() {
            Self::DatabaseUnavailable(e.to_string())
        } else {
            Self::Database(e.to_string())
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            Self::Database(cause) | Self::DatabaseUnavailable(cause) => {
                tracing::error!(cause = %cause, "database error");
            }
            _ => {}
        }
        let mut response = (
            status,
            Json(json!({ "success": false, "message": self.to_string() })),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"gumgate\""),
                );
            }
            Self::Unavailable { retry_after }
            | Self::Busy { retry_after }
            | Self::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, retry_after_value(*retry_after));
            }
            Self::Database(_) => {
                response.extensions_mut().insert(DatabaseFailed);
            }
            Self::DatabaseUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, retry_after_value(DATABASE_RETRY_AFTER));
                response.extensions_mut().insert(DatabaseFailed);
            }
            _ => {}
        }
        response
    }
}

/// A `Retry-After` in whole seconds, rounded up and at least 1 (0 would invite a retry storm).
pub fn retry_after_value(d: Duration) -> HeaderValue {
    HeaderValue::from(d.as_secs_f64().ceil().max(1.0) as u64)
}

/// Router fallback: unknown routes answer 404 in Gumroad's shape.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// Router fallback for a known path with the wrong method.
pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// The body for a handler that panicked; the panic itself is logged by tower-http.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::Internal("handler panicked".into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    /// A database that cannot be reached is a 503 to retry, counted as a database error; one
    /// that refuses a query (or a closed store) stays a 500.
    #[test]
    fn an_unreachable_database_is_503_with_retry_after() {
        for (error, status) in [
            (sqlx::Error::PoolTimedOut, 503),
            (
                sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()),
                503,
            ),
            (sqlx::Error::PoolClosed, 500),
            (sqlx::Error::RowNotFound, 500),
        ] {
            let response = AppError::from(StoreError::Database(error)).into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers().contains_key(header::RETRY_AFTER),
                status == 503
            );
            assert!(response.extensions().get::<DatabaseFailed>().is_some());
        }
    }
}
